/* model/eval_questions.c — readers for the question and answer files of
 * eval_questions.h. Everything goes through jansson; ids are matched through
 * a jansson object used as a hash map (id text → question index). */
#include "eval_questions.h"
#include "file.h"
#include "status.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EVAL_FILE_MAX ((size_t)2 << 30)

void eval_questions_release(eval_questions *qs) {
    if (!qs) return;
    for (size_t i = 0; i < qs->n; i++) {
        eval_question *q = &qs->q[i];
        free(q->id), free(q->image), free(q->image_alt), free(q->question), free(q->category);
        for (int a = 0; a < q->n_answers; a++) free(q->answers[a]);
        free(q->answers);
    }
    free(qs->q);
    memset(qs, 0, sizeof *qs);
}

/* "42" for 42, the string for "42"; 0 on success. */
static int id_text(const json_t *v, char *buf, size_t cap, int *is_int) {
    if (json_is_integer(v)) {
        snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
        *is_int = 1;
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < cap) {
        snprintf(buf, cap, "%s", json_string_value(v));
        *is_int = 0;
        return 0;
    }
    return -1;
}

/* Ground truth from an object with "answers" / "answer" / "label" into q
 * (replacing any). 0 when none was there, 1 when set, <0 on error. */
static int take_gt(const char *path, size_t at, json_t *o, eval_question *q) {
    json_t *answers = json_object_get(o, "answers"), *answer = json_object_get(o, "answer"),
           *label = json_object_get(o, "label");
    int gt;
    size_t n;
    if (json_is_array(answers) && json_array_size(answers) > 0) gt = EVAL_GT_VQA, n = json_array_size(answers);
    else if (json_is_string(answer)) gt = EVAL_GT_EXACT, n = 1;
    else if (json_is_string(label)) gt = EVAL_GT_POPE, n = 1;
    else return 0;
    char **a = calloc(n, sizeof *a);
    if (!a) return status_fail(ST_NOMEM, "questions: out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *s;
        if (gt == EVAL_GT_VQA) {
            json_t *x = json_array_get(answers, i);
            s = json_is_string(x) ? json_string_value(x) : json_string_value(json_object_get(x, "answer"));
        } else {
            s = json_string_value(gt == EVAL_GT_EXACT ? answer : label);
        }
        if (!s || !(a[i] = strdup(s))) {
            for (size_t k = 0; k < i; k++) free(a[k]);
            free(a);
            return s ? status_fail(ST_NOMEM, "questions: out of memory")
                     : status_fail(ST_FORMAT, "%s: entry %zu: answers[%zu] is not a string or {\"answer\"}", path, at, i);
        }
    }
    for (int k = 0; k < q->n_answers; k++) free(q->answers[k]);
    free(q->answers);
    q->answers = a;
    q->n_answers = (int)n;
    q->gt = gt;
    return 1;
}

typedef struct {
    eval_questions qs;
    size_t         cap;
    json_t        *by_id; /* id → index */
} qbuilder;

static int add_question(qbuilder *b, const char *path, size_t at, json_t *o, const char *subtype) {
    char id[128];
    int is_int;
    if (id_text(json_object_get(o, "question_id"), id, sizeof id, &is_int))
        return status_fail(ST_FORMAT, "%s: entry %zu: no \"question_id\"", path, at);
    if (json_object_get(b->by_id, id)) return status_fail(ST_FORMAT, "%s: entry %zu: question_id %s twice", path, at, id);
    const char *text = json_string_value(json_object_get(o, "text"));
    if (!text) text = json_string_value(json_object_get(o, "question"));
    if (!text) return status_fail(ST_FORMAT, "%s: question %s: no \"text\" or \"question\"", path, id);
    char img[64], alt[96];
    const char *image = json_string_value(json_object_get(o, "image"));
    const char *image_alt = NULL;
    json_t *image_id = json_object_get(o, "image_id");
    if (!image && json_is_integer(image_id)) {
        long long v = (long long)json_integer_value(image_id);
        snprintf(img, sizeof img, "%012lld.jpg", v);
        image = img;
        if (subtype) {
            snprintf(alt, sizeof alt, "COCO_%.40s_%012lld.jpg", subtype, v);
            image_alt = alt;
        }
    }
    if (!image) return status_fail(ST_FORMAT, "%s: question %s: no \"image\" or \"image_id\"", path, id);
    if (b->qs.n == b->cap) {
        size_t c = b->cap ? 2 * b->cap : 256;
        eval_question *t = realloc(b->qs.q, c * sizeof *t);
        if (!t) return status_fail(ST_NOMEM, "questions: out of memory");
        b->qs.q = t;
        b->cap = c;
    }
    eval_question *q = &b->qs.q[b->qs.n];
    memset(q, 0, sizeof *q);
    b->qs.n++; /* counted now so eval_questions_release frees what is set */
    const char *cat = json_string_value(json_object_get(o, "category"));
    q->id = strdup(id);
    q->id_is_int = is_int;
    q->image = strdup(image);
    q->image_alt = image_alt ? strdup(image_alt) : NULL;
    q->question = strdup(text);
    q->category = cat ? strdup(cat) : NULL;
    if (!q->id || !q->image || !q->question || (image_alt && !q->image_alt) || (cat && !q->category))
        return status_fail(ST_NOMEM, "questions: out of memory");
    int rc = take_gt(path, at, o, q);
    if (rc < 0) return rc;
    return json_object_set_new(b->by_id, id, json_integer((json_int_t)(b->qs.n - 1))) ? status_fail(ST_NOMEM, "questions: out of memory")
                                                                                     : ST_OK;
}

/* Call fn on each object of a JSON-lines buffer. */
typedef int (*line_fn)(void *ctx, const char *path, size_t line, json_t *o);

static int each_line(const char *path, const char *data, size_t len, line_fn fn, void *ctx) {
    size_t line = 0, i = 0;
    while (i < len) {
        const char *nl = memchr(data + i, '\n', len - i);
        size_t e = nl ? (size_t)(nl - data) : len;
        line++;
        size_t b = i;
        while (b < e && (data[b] == ' ' || data[b] == '\t' || data[b] == '\r')) b++;
        if (b < e) {
            json_error_t err;
            json_t *o = json_loadb(data + b, e - b, 0, &err);
            if (!o || !json_is_object(o)) {
                json_decref(o);
                return status_fail(ST_FORMAT, "%s:%zu: not a JSON object%s%s", path, line, o ? "" : ": ", o ? "" : err.text);
            }
            int rc = fn(ctx, path, line, o);
            json_decref(o);
            if (rc) return rc;
        }
        i = e + 1;
    }
    return ST_OK;
}

static int question_line(void *ctx, const char *path, size_t line, json_t *o) {
    return add_question(ctx, path, line, o, NULL);
}

static int answer_entry(qbuilder *b, const char *path, size_t at, json_t *o) {
    char id[128];
    int is_int;
    if (id_text(json_object_get(o, "question_id"), id, sizeof id, &is_int))
        return status_fail(ST_FORMAT, "%s: entry %zu: no \"question_id\"", path, at);
    json_t *idx = json_object_get(b->by_id, id);
    if (!idx) return ST_OK; /* an answer for a question not asked: ignored */
    int rc = take_gt(path, at, o, &b->qs.q[json_integer_value(idx)]);
    return rc < 0 ? rc : ST_OK;
}

static int answer_line(void *ctx, const char *path, size_t line, json_t *o) { return answer_entry(ctx, path, line, o); }

static int add_annotations(qbuilder *b, const char *path, json_t *anns) {
    for (size_t i = 0; i < json_array_size(anns); i++) {
        int rc = answer_entry(b, path, i, json_array_get(anns, i));
        if (rc) return rc;
    }
    return ST_OK;
}

static int first_char(const uint8_t *d, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (d[i] != ' ' && d[i] != '\t' && d[i] != '\n' && d[i] != '\r') return d[i];
    return 0;
}

/* A whole-file JSON object with an array under key, or 0 when the file is
 * JSON lines. */
static int load_doc(const char *path, const uint8_t *d, size_t n, json_t **doc) {
    *doc = NULL;
    if (first_char(d, n) != '{') return ST_OK;
    json_error_t err;
    json_t *o = json_loadb((const char *)d, n, 0, &err);
    if (!o) return ST_OK; /* several objects: JSON lines */
    *doc = o;
    return ST_OK;
}

int eval_questions_load(const char *path, const char *answers_path, eval_questions *out) {
    memset(out, 0, sizeof *out);
    qbuilder b = {0};
    b.by_id = json_object();
    if (!b.by_id) return status_fail(ST_NOMEM, "questions: out of memory");
    uint8_t *d = NULL;
    size_t n = 0;
    json_t *doc = NULL;
    int rc = file_read(path, EVAL_FILE_MAX, &d, &n);
    if (!rc) rc = load_doc(path, d, n, &doc);
    if (!rc && doc && json_is_array(json_object_get(doc, "questions"))) { /* VQAv2 */
        json_t *qa = json_object_get(doc, "questions");
        const char *sub = json_string_value(json_object_get(doc, "data_subtype"));
        for (size_t i = 0; i < json_array_size(qa) && !rc; i++) rc = add_question(&b, path, i, json_array_get(qa, i), sub);
        if (!rc && json_is_array(json_object_get(doc, "annotations")))
            rc = add_annotations(&b, path, json_object_get(doc, "annotations"));
    } else if (!rc && doc && json_object_get(doc, "question_id")) { /* a one-line JSON-lines file */
        rc = add_question(&b, path, 1, doc, NULL);
    } else if (!rc && doc) {
        rc = status_fail(ST_FORMAT, "%s: a JSON object without \"questions\": expected VQAv2 questions or JSON lines", path);
    } else if (!rc) {
        rc = each_line(path, (const char *)d, n, question_line, &b);
    }
    json_decref(doc);
    free(d);
    d = NULL;
    if (!rc && answers_path) {
        rc = file_read(answers_path, EVAL_FILE_MAX, &d, &n);
        if (!rc) rc = load_doc(answers_path, d, n, &doc);
        if (!rc && doc && json_is_array(json_object_get(doc, "annotations")))
            rc = add_annotations(&b, answers_path, json_object_get(doc, "annotations"));
        else if (!rc && doc && json_object_get(doc, "question_id"))
            rc = answer_entry(&b, answers_path, 1, doc);
        else if (!rc && doc)
            rc = status_fail(ST_FORMAT, "%s: expected VQAv2 annotations or JSON lines of answers", answers_path);
        else if (!rc)
            rc = each_line(answers_path, (const char *)d, n, answer_line, &b);
        json_decref(doc);
        free(d);
    }
    if (!rc && !b.qs.n) rc = status_fail(ST_FORMAT, "%s: no questions", path);
    json_decref(b.by_id);
    if (rc) {
        eval_questions_release(&b.qs);
        return rc;
    }
    *out = b.qs;
    return ST_OK;
}
