/* tools/cmd.h — the seer subcommands. Each lives in tools/cmd_<name>.c and
 * takes the argv after the command name's position (argv[0] = "seer <name>").
 * A command returns the process exit status: 0 success, 1 failure, 2 usage. */
#ifndef SEER_CMD_H
#define SEER_CMD_H

#include <stddef.h>
#include <stdint.h>

int cmd_embed(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_similarity(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_ingest(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_dupes(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_feedback(int argc, char **argv);

/* Shared option helpers (tools/cli.c). */
/* Parse a positive int option value or print an error naming opt; 0 on success. */
int cli_parse_int(const char *opt, const char *val, long lo, long hi, long *out);
/* --kv f16|f32 → *kv_f16 (1/0); 0, or 2 after printing an error. */
int cli_parse_kv(const char *val, int *kv_f16);
/* Print "seer: <message>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
