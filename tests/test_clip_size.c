/* tests/test_clip_size.c — a vision tower whose image_size is not a multiple
 * of its patch (SigLIP so400m-384: 384 px, patch 14, a 27 x 27 grid = 378 px).
 *
 * Upstream runs the patch embedding as a Conv2d with stride = kernel = patch
 * and no padding, so the last image_size % patch rows and columns of pixels
 * never reach the model. Check that seer loads such a config and that its
 * hidden states on a 60 x 60 input equal those of the same tower at 56 px on
 * the input's top-left 56 x 56, and that a config whose size changes the
 * grid is refused. Uses the committed tiny SigLIP tower (tests/data/vlm).
 */
#include "test.h"

#include "clip.h"
#include "status.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tower_dir[PATH_MAX], tmp_dir[] = "/tmp/seer-clip-size-XXXXXX";

/* tmp_dir holds config.json with image_size = size and a link to the weights. */
static int write_tower(int size) {
    char path[1200], cfg[4096];
    snprintf(path, sizeof path, "%s/config.json", tower_dir);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(cfg, 1, sizeof cfg - 1, f);
    fclose(f);
    cfg[n] = 0;
    char *at = strstr(cfg, "\"image_size\": 56");
    if (!at) return -1;
    snprintf(path, sizeof path, "%s/config.json", tmp_dir);
    f = fopen(path, "wb");
    if (!f) return -1;
    fprintf(f, "%.*s\"image_size\": %d%s", (int)(at - cfg), cfg, size, at + strlen("\"image_size\": 56"));
    fclose(f);
    char link[1200], target[1200];
    snprintf(link, sizeof link, "%s/model.safetensors", tmp_dir);
    snprintf(target, sizeof target, "%s/model.safetensors", tower_dir);
    unlink(link);
    return symlink(target, link);
}

TEST(leftover_pixels_are_ignored) {
    clip_model *ref = NULL, *big = NULL;
    CHECK(clip_load(tower_dir, CLIP_VISION, &ref) == ST_OK);
    CHECK(write_tower(60) == 0);
    CHECK_MSG(clip_load(tmp_dir, CLIP_VISION, &big) == ST_OK, "%s", status_message());
    if (!ref || !big) goto out;
    CHECK(big->vision.image_size == 60 && big->vision.grid == 4 && ref->vision.image_size == 56);
    const int T = ref->vision.n_pos, D = ref->vision.enc.D, L = ref->vision.enc.L;
    CHECK(big->vision.n_pos == T);
    float *x60 = malloc(3 * 60 * 60 * sizeof(float)), *x56 = malloc(3 * 56 * 56 * sizeof(float));
    float *h60 = malloc((size_t)T * D * sizeof(float)), *h56 = malloc((size_t)T * D * sizeof(float));
    uint64_t z = 7;
    for (int i = 0; i < 3 * 60 * 60; i++) z = z * 6364136223846793005ull + 1, x60[i] = ((int)(z >> 40 & 1023) - 512) / 256.0f;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 56; y++) memcpy(x56 + (c * 56 + y) * 56, x60 + (c * 60 + y) * 60, 56 * sizeof(float));
    CHECK(clip_vision_hidden(ref, x56, 1, L, h56) == ST_OK);
    CHECK(clip_vision_hidden(big, x60, 1, L, h60) == ST_OK);
    double worst = 0;
    for (int i = 0; i < T * D; i++) {
        double d = h60[i] - h56[i];
        if (d < 0) d = -d;
        if (d > worst) worst = d;
    }
    CHECK_MSG(worst == 0, "hidden states differ by %g", worst); /* the same arithmetic on the same numbers */
    free(x60), free(x56), free(h60), free(h56);
out:
    clip_free(ref);
    clip_free(big);
}

TEST(a_size_that_changes_the_grid_is_refused) {
    clip_model *m = NULL;
    CHECK(write_tower(70) == 0);                /* 70 / 14 = 5 patches, the weights have 4 */
    CHECK(clip_load(tmp_dir, CLIP_VISION, &m) == ST_MISMATCH);
    CHECK(strstr(status_message(), "image_size") != NULL);
    clip_free(m);
}

int main(void) {
    char rel[1024];
    snprintf(rel, sizeof rel, "%s/tests/data/vlm/towers/siglip-tiny-patch14-56", test_source());
    if (!realpath(rel, tower_dir)) {   /* absolute: the weights link must resolve from /tmp */
        perror(rel);
        return 1;
    }
    if (!mkdtemp(tmp_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(leftover_pixels_are_ignored);
    RUN(a_size_that_changes_the_grid_is_refused);
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", tmp_dir), unlink(p);
    snprintf(p, sizeof p, "%s/model.safetensors", tmp_dir), unlink(p);
    rmdir(tmp_dir);
    return test_summary();
}
