/* model/eval_run.h — run a question list through an answering function
 * (the chat model, or a fake in tests), keep the predictions as JSON lines,
 * resume, and score.
 *
 *     eval_run_opts o;
 *     eval_run_opts_default(&o);
 *     o.images_dir = "coco/val2017"; o.preds_path = "preds.jsonl";
 *     o.answer = my_answer; o.ctx = model;
 *     eval_run_result r;
 *     if (eval_run(&qs, &o, &r)) die(status_message());
 *     printf("VQA accuracy %.2f\n", 100 * r.vqa_accuracy);
 *     eval_run_result_release(&r);
 *
 * Predictions file (JSON lines, appended, flushed per line):
 *   {"question_id": 42, "image": "x.jpg", "prompt": "...", "text": "answer",
 *    "router": {...router_report.h layout...}}
 * The prompt is vqa_prompt(question): the question + the MoE-LLaVA
 * short-answer instruction. A question whose id already has a line is not
 * asked again (resume); a kill leaves at most one torn last line, which is
 * skipped when read (and a newline is written before the next append).
 * With rescore set nothing is asked: the file is only read and scored.
 *
 * A question whose image is missing or unreadable, or whose answer fails,
 * is reported through on_error and counted in n_failed; the run goes on and
 * no line is written for it (a later run retries it).
 *
 * Scores are over the questions that have a prediction:
 *   EVAL_GT_VQA   mean vqa_accuracy          → vqa_accuracy, n_vqa
 *   EVAL_GT_EXACT mean gqa_exact_match       → exact_accuracy, n_exact
 *   EVAL_GT_POPE  pope metrics per category (and "all") → pope[]
 * Router counts of every prediction line (also those of earlier runs) are
 * summed into r->router.
 */
#ifndef SEER_EVAL_RUN_H
#define SEER_EVAL_RUN_H

#include "eval_questions.h"
#include "pope_score.h"
#include "router_report.h"

#include <jansson.h>
#include <stddef.h>

/* Answer prompt about the image at image_path. *answer: malloc'd text;
 * *router: the answer's router counts in the router_report.h JSON layout
 * (new reference) or NULL. Nonzero status = this question failed (the
 * message says why); the run continues. */
typedef int (*eval_answer_fn)(void *ctx, const char *image_path, const char *prompt, char **answer,
                              json_t **router);

typedef struct {
    const char *images_dir;   /* question image names are relative to it */
    const char *preds_path;   /* JSON lines, created if absent (required) */
    int         rescore;      /* only read preds_path and score */
    size_t      limit;        /* the first `limit` questions only (0 = all) */
    eval_answer_fn answer;
    void       *ctx;
    /* progress: after every question (done counts resumed ones too) */
    void      (*on_progress)(size_t done, size_t total, size_t failed, void *ctx);
    void      (*on_error)(const eval_question *q, const char *reason, void *ctx);
    void       *cb_ctx;
    volatile int *cancel;     /* stop after the current question when set */
} eval_run_opts;

void eval_run_opts_default(eval_run_opts *o);

#define EVAL_POPE_MAX_SPLITS 16

typedef struct {
    char        name[32];     /* category, or "all" */
    pope_counts c;
    pope_metrics m;
} eval_pope_split;

typedef struct {
    size_t n_questions;       /* considered (after limit) */
    size_t n_asked;           /* answered in this run */
    size_t n_resumed;         /* already in the predictions file */
    size_t n_failed;          /* image or answer failures in this run */
    size_t n_predicted;       /* questions with a prediction now */
    size_t n_bad_lines;       /* unreadable lines in the predictions file */
    size_t n_vqa;    double vqa_accuracy;
    size_t n_exact;  double exact_accuracy;
    size_t n_pope_splits;     /* pope[0] is "all" when any POPE question was scored */
    eval_pope_split pope[EVAL_POPE_MAX_SPLITS];
    router_stats router;      /* summed over the predictions (n_layers 0 if none had one) */
} eval_run_result;

/* ST_OK when the run completed, even with failed questions; ST_CANCELLED
 * when *cancel stopped it (what was answered is kept and scored). */
int  eval_run(const eval_questions *qs, const eval_run_opts *o, eval_run_result *r);
void eval_run_result_release(eval_run_result *r);

/* Sum the router counts of a predictions file into rs (zero-initialised or
 * already shaped). *n_lines (may be NULL) gets the lines that had one. */
int  eval_run_preds_router(const char *preds_path, router_stats *rs, size_t *n_lines);

#endif
