/* tools/cli.c — option helpers shared by the subcommands. */
#include "cmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("seer: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_int(const char *opt, const char *val, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(val, &end, 10);
    if (errno || end == val || *end || v < lo || v > hi) {
        cli_error("%s: expected an integer in [%ld, %ld], got '%s'", opt, lo, hi, val);
        return 2;
    }
    *out = v;
    return 0;
}

int cli_parse_kv(const char *val, int *kv_f16) {
    if (!strcmp(val, "f16") || !strcmp(val, "f32")) {
        *kv_f16 = !strcmp(val, "f16");
        return 0;
    }
    cli_error("--kv: expected f16 or f32, got '%s'", val);
    return 2;
}
