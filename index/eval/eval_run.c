/* model/eval_run.c — the question loop, the predictions file and the
 * scoring of eval_run.h. */
#include "eval_run.h"
#include "file.h"
#include "status.h"
#include "vqa_score.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void eval_run_opts_default(eval_run_opts *o) { memset(o, 0, sizeof *o); }

void eval_run_result_release(eval_run_result *r) {
    if (r) router_stats_release(&r->router);
}

/* ---------------------------------------------------------------- predictions file */

typedef int (*pred_fn)(void *ctx, const char *id, json_t *line);

/* Call fn for each readable prediction line; *bad counts the others. A
 * missing file is an empty one. */
static int preds_each(const char *path, pred_fn fn, void *ctx, size_t *bad) {
    uint8_t *d;
    size_t n;
    if (!file_is_regular(path)) return ST_OK;
    int rc = file_read(path, 0, &d, &n);
    if (rc) return rc;
    size_t i = 0;
    while (i < n && !rc) {
        const char *nl = memchr(d + i, '\n', n - i);
        size_t e = nl ? (size_t)((const uint8_t *)nl - d) : n;
        if (e > i) {
            json_t *o = json_loadb((const char *)d + i, e - i, 0, NULL);
            json_t *qid = o ? json_object_get(o, "question_id") : NULL;
            char id[128];
            if (json_is_integer(qid)) snprintf(id, sizeof id, "%lld", (long long)json_integer_value(qid));
            else if (json_is_string(qid) && json_string_length(qid) < sizeof id) snprintf(id, sizeof id, "%s", json_string_value(qid));
            else id[0] = 0;
            if (!id[0] || !json_is_string(json_object_get(o, "text"))) {
                if (bad) (*bad)++;
            } else {
                rc = fn(ctx, id, o);
            }
            json_decref(o);
        }
        i = e + 1;
    }
    free(d);
    return rc;
}

static int collect_pred(void *ctx, const char *id, json_t *line) {
    json_t *text = json_object_get(line, "text"); /* the last line of an id wins */
    return json_object_set(ctx, id, text) ? status_fail(ST_NOMEM, "eval: out of memory") : ST_OK;
}

typedef struct {
    router_stats *rs;
    size_t        n;
} router_acc;

static int collect_router(void *ctx, const char *id, json_t *line) {
    router_acc *a = ctx;
    json_t *r = json_object_get(line, "router");
    if (!json_is_object(r)) return ST_OK;
    int rc = router_stats_add_json(a->rs, r);
    if (rc) return status_wrap(rc, "predictions, question %s", id);
    a->n++;
    return ST_OK;
}

int eval_run_preds_router(const char *preds_path, router_stats *rs, size_t *n_lines) {
    if (!file_is_regular(preds_path)) return status_fail(ST_NOT_FOUND, "%s: no such predictions file", preds_path);
    router_acc a = {rs, 0};
    int rc = preds_each(preds_path, collect_router, &a, NULL);
    if (n_lines) *n_lines = a.n;
    return rc;
}

/* Open for append; a torn last line gets its newline first. */
static int preds_open_append(const char *path, FILE **out) {
    FILE *f = fopen(path, "a+");
    if (!f) return status_fail(ST_IO, "%s: cannot open for appending", path);
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > 0) {
        fseek(f, -1, SEEK_END);
        int c = fgetc(f);
        fseek(f, 0, SEEK_END);
        if (c != '\n') fputc('\n', f);
    }
    *out = f;
    return ST_OK;
}

/* ---------------------------------------------------------------- the loop */

static int resolve_image(const char *dir, const eval_question *q, char *buf, size_t cap) {
    const char *names[2] = {q->image, q->image_alt};
    for (int k = 0; k < 2 && names[k]; k++) {
        if (names[k][0] == '/' || !dir) snprintf(buf, cap, "%s", names[k]);
        else if (file_join(buf, cap, dir, names[k])) continue;
        if (file_is_regular(buf)) return ST_OK;
    }
    return status_fail(ST_NOT_FOUND, "image %s not found%s%s", q->image, dir ? " under " : "", dir ? dir : "");
}

/* Ask one question and append its line. A failure of the question (image,
 * answer) is the return value; a failure of the predictions file goes to
 * *write_rc and stops the run. */
static int ask_one(const eval_question *q, const eval_run_opts *o, FILE *f, int *write_rc) {
    char path[4096];
    int rc = resolve_image(o->images_dir, q, path, sizeof path);
    if (rc) return rc;
    char *prompt = NULL, *answer = NULL;
    json_t *router = NULL;
    rc = vqa_prompt(q->question, &prompt);
    if (!rc) rc = o->answer(o->ctx, path, prompt, &answer, &router);
    if (!rc) {
        json_t *line = json_object();
        json_object_set_new(line, "question_id",
                            q->id_is_int ? json_integer(strtoll(q->id, NULL, 10)) : json_string(q->id));
        json_object_set_new(line, "image", json_string(q->image));
        json_object_set_new(line, "prompt", json_string(prompt));
        json_object_set_new(line, "text", json_string(answer ? answer : ""));
        if (router) json_object_set(line, "router", router);
        char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        json_decref(line);
        if (!s) *write_rc = status_fail(ST_NOMEM, "eval: out of memory");
        else if (fputs(s, f) < 0 || fputc('\n', f) < 0 || fflush(f))
            *write_rc = status_fail(ST_IO, "%s: write failed", o->preds_path);
        free(s);
    }
    json_decref(router);
    free(prompt);
    free(answer);
    return rc;
}

/* ---------------------------------------------------------------- scoring */

static eval_pope_split *pope_split(eval_run_result *r, const char *name) {
    for (size_t i = 0; i < r->n_pope_splits; i++)
        if (!strcmp(r->pope[i].name, name)) return &r->pope[i];
    if (r->n_pope_splits == EVAL_POPE_MAX_SPLITS) return NULL;
    eval_pope_split *s = &r->pope[r->n_pope_splits++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    return s;
}

static int score(const eval_questions *qs, size_t nq, json_t *preds, eval_run_result *r) {
    double vqa_sum = 0;
    size_t exact_hits = 0;
    for (size_t i = 0; i < nq; i++) {
        const eval_question *q = &qs->q[i];
        const char *text = json_string_value(json_object_get(preds, q->id));
        if (!text) continue;
        r->n_predicted++;
        if (q->gt == EVAL_GT_VQA) {
            double acc;
            int rc = vqa_accuracy(text, (const char *const *)q->answers, q->n_answers, &acc);
            if (rc) return rc;
            vqa_sum += acc;
            r->n_vqa++;
        } else if (q->gt == EVAL_GT_EXACT) {
            exact_hits += gqa_exact_match(text, q->answers[0]);
            r->n_exact++;
        } else if (q->gt == EVAL_GT_POPE) {
            int pred = pope_parse_answer(text), label = pope_parse_label(q->answers[0]);
            eval_pope_split *all = pope_split(r, "all");
            pope_counts_add(&all->c, pred, label);
            eval_pope_split *s = pope_split(r, q->category ? q->category : "default");
            if (s && q->category) pope_counts_add(&s->c, pred, label);
        }
    }
    r->vqa_accuracy = r->n_vqa ? vqa_sum / r->n_vqa : 0;
    r->exact_accuracy = r->n_exact ? (double)exact_hits / r->n_exact : 0;
    /* a split with nothing (questions without a category) is dropped */
    size_t k = 0;
    for (size_t i = 0; i < r->n_pope_splits; i++) {
        eval_pope_split *s = &r->pope[i];
        if (!(s->c.tp + s->c.fp + s->c.tn + s->c.fn)) continue;
        pope_metrics_compute(&s->c, &s->m);
        if (k != i) r->pope[k] = *s;
        k++;
    }
    r->n_pope_splits = k;
    return ST_OK;
}

int eval_run(const eval_questions *qs, const eval_run_opts *o, eval_run_result *r) {
    memset(r, 0, sizeof *r);
    size_t nq = o->limit && o->limit < qs->n ? o->limit : qs->n;
    r->n_questions = nq;
    if (!o->preds_path) return status_fail(ST_ARG, "eval: no predictions file");
    if (!o->rescore && !o->answer) return status_fail(ST_ARG, "eval: no answering function");
    json_t *preds = json_object();
    if (!preds) return status_fail(ST_NOMEM, "eval: out of memory");
    int rc = ST_OK;
    FILE *f = NULL;
    rc = preds_each(o->preds_path, collect_pred, preds, NULL);
    if (!rc && !o->rescore) {
        rc = preds_open_append(o->preds_path, &f);
        for (size_t i = 0; i < nq && !rc; i++) {
            const eval_question *q = &qs->q[i];
            if (json_object_get(preds, q->id)) {
                r->n_resumed++;
            } else if (o->cancel && *o->cancel) {
                rc = ST_CANCELLED;
                break;
            } else {
                int st = ask_one(q, o, f, &rc);
                if (rc) break;
                if (st) {
                    r->n_failed++;
                    if (o->on_error) o->on_error(q, status_message(), o->cb_ctx);
                } else {
                    r->n_asked++;
                }
            }
            if (o->on_progress) o->on_progress(i + 1, nq, r->n_failed, o->cb_ctx);
        }
        if (f && fclose(f) && !rc) rc = status_fail(ST_IO, "%s: write failed", o->preds_path);
    }
    if (!rc || rc == ST_CANCELLED) {
        int keep = rc;
        json_object_clear(preds);
        rc = preds_each(o->preds_path, collect_pred, preds, &r->n_bad_lines);
        router_acc a = {&r->router, 0};
        if (!rc) rc = preds_each(o->preds_path, collect_router, &a, NULL);
        if (!rc) rc = score(qs, nq, preds, r);
        if (!rc) rc = keep;
    }
    json_decref(preds);
    return rc;
}
