/* tools/cli_image.c — see cli_image.h. */
#include "cli_image.h"
#include "cmd.h"
#include "image_meta.h"
#include "status.h"

#include <stdio.h>
#include <stdlib.h>

int cli_filter_option(filter *f, int c, const char *value) {
    static const char *const names[] = {"after", "before", "folder", "camera", "format"};
    if (c < CLI_FILTER_OPT || c >= CLI_FILTER_OPT + 5) return -1;
    if (filter_set(f, names[c - CLI_FILTER_OPT], value)) {
        cli_error("--%s", status_message());
        return 2;
    }
    return 0;
}

json_t *cli_image_json(uint64_t id, const store_image *im) {
    char cam[2 * 64 + 2];
    filter_camera(im->make, im->model, cam, sizeof cam);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_integer((json_int_t)id));
    json_t *p = json_string(im->path);
    json_object_set_new(o, "path", p ? p : json_string("(not UTF-8)"));
    json_object_set_new(o, "taken", im->taken[0] ? json_string(im->taken) : json_null());
    json_object_set_new(o, "taken_source", json_string(im->taken_source == IMAGE_TAKEN_EXIF    ? "exif"
                                                       : im->taken_source == IMAGE_TAKEN_MTIME ? "mtime"
                                                                                               : "none"));
    json_t *jc = cam[0] ? json_string(cam) : NULL;
    json_object_set_new(o, "camera", jc ? jc : json_null());
    json_object_set_new(o, "format", json_string(im->format));
    json_object_set_new(o, "width", json_integer(im->width));
    json_object_set_new(o, "height", json_integer(im->height));
    if (im->has_gps) json_object_set_new(o, "gps", json_pack("{s:f, s:f}", "lat", im->gps_lat, "lon", im->gps_lon));
    return o;
}

void cli_image_print(const store_image *im) {
    char cam[2 * 64 + 2];
    filter_camera(im->make, im->model, cam, sizeof cam);
    printf("%-19s  %-20.20s  %5ux%-5u  %-5s  %s", im->taken[0] ? im->taken : "-", cam[0] ? cam : "-", im->width,
           im->height, im->format, im->path);
}

void cli_json_print(json_t *o) {
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7));
    if (s) puts(s);
    free(s);
    json_decref(o);
}
