/* tools/cmd_bench_decode.c — `seer bench decode`: image decoding rate per
 * file (so per format), one thread, against this machine's memory bandwidth
 * measured in the same run.
 *
 *     seer bench decode [--seconds S] FILE...
 *
 * Each file is read into memory once, then image_decode()d (default options:
 * EXIF rotation on, the 100 Mpx cap) repeatedly for at least S seconds
 * (default 2) and at least 3 times; the median time is reported as images/s
 * and megapixels/s, with image_meta_read's time. The limit beside it: the
 * time to write the decoded RGB once at the single-thread triad bandwidth
 * (decoding can never be faster than producing its output); the ratio shows
 * how far each codec is from being memory-bound (far: decoding is compute).
 */
#include "bench_util.h"
#include "cmd.h"

#include "file.h"
#include "image.h"
#include "image_meta.h"
#include "status.h"
#include "timer.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_bench_decode(int argc, char **argv) {
    double seconds = 2;
    int first = 1;
    for (; first < argc && argv[first][0] == '-'; first++) {
        if (!strcmp(argv[first], "--seconds") && first + 1 < argc) seconds = atof(argv[++first]);
        else if (!strcmp(argv[first], "--help") || !strcmp(argv[first], "-h")) {
            printf("usage: seer bench decode [--seconds S] FILE...\n");
            return 0;
        } else {
            cli_error("bench decode: unknown option %s", argv[first]);
            return 2;
        }
    }
    if (first >= argc) {
        cli_error("usage: seer bench decode [--seconds S] FILE...");
        return 2;
    }
    char load[64];
    bench_loadavg(load, sizeof load);
    omp_set_num_threads(1);
    double rd = 0, triad = 0;
    bench_bandwidth((size_t)256 << 20, 3, &rd, &triad);
    printf("machine: 1-thread triad bandwidth %.1f GB/s (read %.1f GB/s); load average %s\n", triad / 1e9, rd / 1e9,
           load);
    printf("%-28s %-5s %11s %8s %9s %9s %10s %9s\n", "file", "fmt", "decoded", "MB", "images/s", "Mpx/s",
           "meta ms", "vs bound");
    int rc = 0;
    for (int i = first; i < argc; i++) {
        uint8_t *buf = NULL;
        size_t n = 0;
        if (file_read(argv[i], IMAGE_MAX_FILE_BYTES, &buf, &n)) {
            cli_error("%s", status_message());
            rc = 1;
            continue;
        }
        double times[256];
        int k = 0;
        double t_start = timer_now();
        image img = {0};
        const char *fmt = "?";
        while (k < 256 && (k < 3 || timer_now() - t_start < seconds)) {
            double t0 = timer_now();
            image_release(&img);
            if (image_decode(buf, n, argv[i], NULL, &img, &fmt)) {
                cli_error("%s", status_message());
                rc = 1;
                break;
            }
            times[k++] = timer_now() - t0;
        }
        double mt0 = timer_now();
        image_meta m;
        int mst = image_meta_read(buf, n, &m);
        double meta_ms = (timer_now() - mt0) * 1e3;
        if (k > 0 && img.rgb) {
            qsort(times, (size_t)k, sizeof times[0], bench_cmp_double);
            const double t = times[k / 2];
            const double px = (double)img.w * img.h;
            const double bound = px * 3 / triad;   /* seconds to write the RGB once */
            char size[32];
            snprintf(size, sizeof size, "%dx%d", img.w, img.h);
            const char *base = strrchr(argv[i], '/');
            printf("%-28s %-5s %11s %8.2f %9.2f %9.1f %10.2f %8.4f%s\n", base ? base + 1 : argv[i], fmt, size,
                   n / 1e6, 1 / t, px / t / 1e6, meta_ms, bound / t, mst ? " (meta failed)" : "");
        }
        image_release(&img);
        free(buf);
    }
    return rc;
}
