/* tools/cli_image.h — what `seer list`, `seer search` and `seer dupes` share:
 * the filter options and one image's metadata as JSON or as a text line. */
#ifndef SEER_CLI_IMAGE_H
#define SEER_CLI_IMAGE_H

#include "filter.h"
#include "store.h"

#include <jansson.h>
#include <stdint.h>

/* The filter options, for getopt_long tables: --after --before --folder
 * --camera --format (their values start at CLI_FILTER_OPT). */
#define CLI_FILTER_OPT 1000
#define CLI_FILTER_OPTIONS                                                                              \
    {"after", required_argument, 0, CLI_FILTER_OPT + 0}, {"before", required_argument, 0, CLI_FILTER_OPT + 1}, \
    {"folder", required_argument, 0, CLI_FILTER_OPT + 2}, {"camera", required_argument, 0, CLI_FILTER_OPT + 3}, \
    {"format", required_argument, 0, CLI_FILTER_OPT + 4}
#define CLI_FILTER_HELP                                                                    \
    "  --after DATE    taken on or after DATE (YYYY-MM-DD, the local date of the photo)\n" \
    "  --before DATE   taken on or before DATE\n"                                          \
    "  --folder DIR    under DIR (absolute, or relative to an ingested root)\n"            \
    "  --camera TEXT   camera make/model contains TEXT (any case)\n"                       \
    "  --format NAME   jpeg, png, heic, webp, ...\n"

/* Apply getopt's c (CLI_FILTER_OPT + i) with value to f; 2 (usage, message
 * printed) when the value is bad, 0 when set, -1 when c is no filter option. */
int cli_filter_option(filter *f, int c, const char *value);

/* {"id","path","taken","taken_source","camera","format","width","height","gps"?} */
json_t *cli_image_json(uint64_t id, const store_image *im);
/* "taken  camera  WxH  format  path" without a newline, into stdout. */
void cli_image_print(const store_image *im);
/* Print o compactly on one line to stdout and free it. */
void cli_json_print(json_t *o);

#endif
