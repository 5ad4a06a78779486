/* tools/cmd_eval.c — `seer eval retrieval | vqa | pope | router`: options,
 * progress and printing over the evaluation layer (index/eval/: retrieval_run,
 * eval_run, vqa_score, pope_score, router_report). */
#include "captions.h"
#include "chat.h"
#include "cmd.h"
#include "embed.h"
#include "eval_questions.h"
#include "eval_retrieval.h"
#include "eval_run.h"
#include "retrieval_run.h"
#include "file.h"
#include "log.h"
#include "router_report.h"
#include "status.h"
#include "store.h"
#include "timer.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


static void eval_usage(FILE *f) {
    fprintf(f,
            "usage: seer eval retrieval --db DIR --captions FILE [--model DIR] [--json] [--limit N]\n"
            "       seer eval vqa  --model DIR --questions FILE --images DIR [--answers FILE] [options]\n"
            "       seer eval pope --model DIR --questions FILE --images DIR [--answers FILE] [options]\n"
            "       seer eval router --preds FILE --out DIR\n"
            "       seer eval router --model DIR --questions FILE --images DIR --out DIR [options]\n"
            "\n"
            "retrieval  text->image and image->text Recall@1/5/10, mean and median rank of the\n"
            "           store's images against a caption file (COCO captions_*.json, or CSV/TSV\n"
            "           with columns image,caption); images are matched by file name.\n"
            "vqa        ask every question greedily with the MoE-LLaVA short-answer prompt\n"
            "           (question + \"\\nAnswer the question using a single word or phrase.\") and\n"
            "           score: VQA soft accuracy (human answers: VQAv2, OK-VQA), exact match (one answer, GQA).\n"
            "pope       the same for yes/no questions with labels: accuracy, precision, recall,\n"
            "           F1 and yes-ratio per split (\"category\": random / popular / adversarial).\n"
            "router     expert load per MoE layer for image and text tokens, and the modality\n"
            "           split per expert, over a predictions file (or a fresh run): SVG + JSON.\n"
            "\n"
            "options:\n"
            "  --db DIR            the store made by seer ingest (retrieval)\n"
            "  --captions FILE     caption file (retrieval)\n"
            "  --model DIR         retrieval: the CLIP model (default: the store's);\n"
            "                      vqa/pope/router: the MoE-LLaVA checkpoint\n"
            "  --questions FILE    JSON lines (question_id, image, text|question, answers|answer|label,\n"
            "                      category) or VQAv2 questions JSON\n"
            "  --answers FILE      ground truth by question_id (VQAv2 annotations, POPE label lines)\n"
            "  --images DIR        where the question images are\n"
            "  --preds FILE        predictions, JSON lines (default <questions name>.preds.jsonl here);\n"
            "                      a run resumes: questions already in it are not asked again\n"
            "  --rescore           do not ask anything: score the predictions file\n"
            "  --limit N           the first N questions / captions only\n"
            "  --max-tokens N      answer length limit (default 128)\n"
            "  --vision-tower DIR  the vision tower (default: mm_image_tower under the models root)\n"
            "  --models-root DIR   where towers are looked up (default $SEER_MODELS or ~/.cache/seer/models)\n"
            "  --quant q8          int8 language-model weights\n"
            "  --router-out DIR    vqa/pope: also write the router figures and table there\n"
            "  --out DIR           router: where router_load.svg, router_modality.svg, router.json go\n"
            "  --json              print the results as one JSON object\n"
            "  --quiet             no progress display\n");
}

/* ---------------------------------------------------------------- progress */

typedef struct {
    const char *label;
    int         tty, quiet;
    double      t0, last;
} progress;

static void progress_init(progress *p, const char *label, int quiet) {
    p->label = label;
    p->tty = isatty(2);
    p->quiet = quiet;
    p->t0 = p->last = timer_now();
}

static void progress_show(progress *p, size_t done, size_t total, size_t failed) {
    if (p->quiet || !total) return;
    double now = timer_now();
    int end = done >= total;
    if (!end && now - p->last < (p->tty ? 0.1 : 5.0)) return;
    p->last = now;
    double el = now - p->t0, eta = done ? el / done * (total - done) : 0;
    char bar[31];
    int fill = (int)(30.0 * done / total);
    for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
    bar[30] = 0;
    fprintf(stderr, "%s%s [%s] %zu/%zu (%.0f%%)", p->tty ? "\r" : "", p->label, bar, done, total, 100.0 * done / total);
    if (failed) fprintf(stderr, ", %zu failed", failed);
    fprintf(stderr, end ? ", %.1fs" : ", ETA %.0fs", end ? el : eta);
    fputs(p->tty && !end ? "\033[K" : "\n", stderr);
}

static volatile int cancelled;
static void on_sigint(int sig) {
    (void)sig;
    cancelled = 1;
}


static void print_recall(const char *name, const eval_recall *r) {
    printf("%-14s %7zu  %6.2f  %6.2f  %6.2f  %9.2f  %7.1f\n", name, r->n_queries, 100 * r->r1, 100 * r->r5, 100 * r->r10,
           r->mean_rank, r->median_rank);
}

static json_t *recall_json(const eval_recall *r) {
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "queries", (json_int_t)r->n_queries, "r1", r->r1, "r5", r->r5,
                     "r10", r->r10, "mean_rank", r->mean_rank, "median_rank", r->median_rank);
}

static void print_retrieval(const char *captions_path, const char *db, const retrieval_run_result *x, int json) {
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o, s:f, s:f}", "captions", captions_path,
                              "db", db, "model", x->identity, "images", (json_int_t)x->n_images, "texts",
                              (json_int_t)x->n_captions, "images_missing", (json_int_t)x->n_missing, "texts_dropped",
                              (json_int_t)x->n_dropped, "t2i", recall_json(&x->r.t2i), "i2t", recall_json(&x->r.i2t),
                              "embed_s", x->t_embed, "score_s", x->t_score);
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        if (s) puts(s);
        free(s);
        json_decref(o);
        return;
    }
    printf("%s: %zu images, %zu captions (model %s)\n", captions_path, x->n_images, x->n_captions, x->identity);
    if (x->n_missing)
        printf("%zu images (%zu captions) of the file are not in the store and were left out\n", x->n_missing,
               x->n_dropped);
    printf("%-14s %7s  %6s  %6s  %6s  %9s  %7s\n", "direction", "queries", "R@1", "R@5", "R@10", "mean rank",
           "median");
    print_recall("text->image", &x->r.t2i);
    print_recall("image->text", &x->r.i2t);
    printf("(recall in %%; captions embedded in %.1fs, scored in %.2fs)\n", x->t_embed, x->t_score);
}

static void on_caption(size_t done, size_t total, void *ctx) { progress_show(ctx, done, total, 0); }

static void on_missing(const char *image, void *ctx) {
    (void)ctx;
    fprintf(stderr, "seer: %s: not in the store, skipped with its captions\n", image);
}

static int eval_retrieval_cmd(const char *db, const char *captions_path, const char *model, size_t limit, int json,
                              int quiet) {
    progress pg;
    progress_init(&pg, "captions", quiet || json);
    retrieval_run_opts o = {.db = db, .captions = captions_path, .model = model, .limit = limit,
                            .on_progress = on_caption, .on_missing = on_missing, .ctx = &pg};
    retrieval_run_result x;
    if (retrieval_run(&o, &x)) {
        cli_error("%s", status_message());
        return 1;
    }
    if (x.n_dup_names)
        log_warn("%zu stored file names appear under several paths with different content; the first is used",
                 x.n_dup_names);
    if (x.n_missing > 5) fprintf(stderr, "seer: ... %zu caption images in all are not in the store\n", x.n_missing);
    print_retrieval(captions_path, db, &x, json);
    return 0;
}

/* ---------------------------------------------------------------- the chat answerer */

typedef struct {
    chat_model   *cm;
    chat_session *cs;
    gen_opts      go;
    char          last_image[4096];  /* the image whose features the session holds */
} answerer;

static int chat_answer(void *ctx, const char *image_path, const char *prompt, char **answer, json_t **router) {
    answerer *a = ctx;
    int st;
    if (strcmp(a->last_image, image_path)) {
        image_opts io = image_opts_default();
        image img = {0};
        a->last_image[0] = 0;
        st = image_load(image_path, &io, &img, NULL);
        if (!st) st = chat_set_image(a->cs, &img);
        image_release(&img);
        if (st) return st;
        snprintf(a->last_image, sizeof a->last_image, "%s", image_path);
    } else {
        chat_clear(a->cs); /* same picture: keep its features, forget the conversation */
    }
    gen_result r;
    if ((st = chat_ask(a->cs, prompt, &a->go, &r))) return st;
    *answer = strdup(r.text ? r.text : "");
    gen_result_release(&r);
    if (!*answer) return status_fail(ST_NOMEM, "out of memory");
    size_t n;
    const uint32_t *cnt = chat_router_counts(a->cs, &n);
    *router = cnt && n ? router_stats_answer_json(chat_model_lm(a->cm), cnt, n) : NULL;
    return ST_OK;
}

static void on_question_error(const eval_question *q, const char *reason, void *ctx) {
    (void)ctx;
    fprintf(stderr, "%sseer: question %s (%s): %s\n", isatty(2) ? "\r\033[K" : "", q->id, q->image, reason);
}

static void on_run_progress(size_t done, size_t total, size_t failed, void *ctx) {
    progress_show(ctx, done, total, failed);
}

/* ---------------------------------------------------------------- router figures */

static int write_text(const char *dir, const char *name, const char *text, size_t len) {
    char path[4096];
    if (file_join(path, sizeof path, dir, name)) return -1;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len || fclose(f)) {
        if (f) fclose(f);
        return status_fail(ST_IO, "%s: cannot write", path);
    }
    return 0;
}

static int write_router(const router_stats *rs, const char *dir, const char *what) {
    if (rs->n_layers < 1) return status_fail(ST_NOT_FOUND, "no router counts in the predictions (a dense model?)");
    mkdir(dir, 0777);
    char title[512], *svg = NULL;
    size_t len;
    int st;
    snprintf(title, sizeof title, "Expert load per MoE layer — %s", what);
    if ((st = router_svg_load(rs, title, &svg, &len)) || (st = write_text(dir, "router_load.svg", svg, len))) goto out;
    free(svg);
    svg = NULL;
    snprintf(title, sizeof title, "Modality split per expert — %s", what);
    if ((st = router_svg_modality(rs, title, &svg, &len)) || (st = write_text(dir, "router_modality.svg", svg, len)))
        goto out;
    json_t *t = router_stats_json(rs);
    char *s = t ? json_dumps(t, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(5)) : NULL;
    st = s ? write_text(dir, "router.json", s, strlen(s)) : status_fail(ST_NOMEM, "out of memory");
    free(s);
    json_decref(t);
out:
    free(svg);
    if (!st) fprintf(stderr, "seer: router figures in %s (router_load.svg, router_modality.svg, router.json)\n", dir);
    return st;
}

/* ---------------------------------------------------------------- vqa / pope / router runs */

static json_t *pope_json(const eval_pope_split *s) {
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f, s:I, s:I, s:I, s:I}", "n", (json_int_t)s->m.n, "accuracy",
                     s->m.accuracy, "precision", s->m.precision, "recall", s->m.recall, "f1", s->m.f1, "yes_ratio",
                     s->m.yes_ratio, "tp", (json_int_t)s->c.tp, "fp", (json_int_t)s->c.fp, "tn", (json_int_t)s->c.tn,
                     "fn", (json_int_t)s->c.fn);
}

static void print_results(const char *mode, const eval_run_result *r, const char *preds) {
    printf("%zu questions: %zu answered now, %zu from %s, %zu failed", r->n_questions, r->n_asked, r->n_resumed, preds,
           r->n_failed);
    if (r->n_bad_lines) printf(", %zu unreadable prediction lines", r->n_bad_lines);
    putchar('\n');
    if (r->n_vqa) printf("VQA soft accuracy    %6.2f  (%zu questions)\n", 100 * r->vqa_accuracy, r->n_vqa);
    if (r->n_exact) printf("exact match          %6.2f  (%zu questions)\n", 100 * r->exact_accuracy, r->n_exact);
    if (r->n_pope_splits) {
        printf("%-12s %6s  %8s  %9s  %6s  %6s  %9s\n", "POPE split", "n", "accuracy", "precision", "recall", "F1",
               "yes-ratio");
        for (size_t i = 0; i < r->n_pope_splits; i++) {
            const eval_pope_split *s = &r->pope[i];
            printf("%-12s %6llu  %8.2f  %9.2f  %6.2f  %6.2f  %9.2f\n", s->name, (unsigned long long)s->m.n,
                   100 * s->m.accuracy, 100 * s->m.precision, 100 * s->m.recall, 100 * s->m.f1, 100 * s->m.yes_ratio);
        }
    }
    if (!r->n_vqa && !r->n_exact && !r->n_pope_splits && !strcmp(mode, "pope"))
        printf("no POPE labels: give --answers FILE or \"label\" fields\n");
    if (!r->n_vqa && !r->n_exact && !r->n_pope_splits && strcmp(mode, "pope"))
        printf("no ground truth: predictions only (give --answers FILE to score)\n");
}

typedef struct {
    const char *model, *questions, *answers, *images, *preds, *vision_tower, *models_root, *router_out, *out;
    int rescore, json, quiet, quant, max_tokens;
    size_t limit;
} run_args;

static int eval_run_cmd(const char *mode, const run_args *a) {
    char preds[4096];
    if (a->preds) {
        snprintf(preds, sizeof preds, "%s", a->preds);
    } else {
        const char *b = file_base_name(a->questions), *dot = strrchr(b, '.');
        snprintf(preds, sizeof preds, "%.*s.preds.jsonl", (int)(dot && dot != b ? dot - b : (long)strlen(b)), b);
    }
    eval_questions qs = {0};
    if (eval_questions_load(a->questions, a->answers, &qs)) {
        cli_error("%s", status_message());
        return 1;
    }
    int rc = 1;
    answerer an = {0};
    an.go = gen_opts_default();
    an.go.max_tokens = a->max_tokens;
    an.go.sampling.temperature = 0; /* greedy, as the MoE-LLaVA eval scripts run */
    an.go.cancel = &cancelled;
    if (!a->rescore) {
        if (!a->model) {
            cli_error("--model DIR is required (or --rescore)");
            goto out;
        }
        chat_load_opts lo = chat_load_opts_default();
        lo.vision_tower = a->vision_tower;
        lo.models_root = a->models_root;
        if (a->quant) lo.lm.quant = LM_QUANT_Q8;
        if (chat_model_load(a->model, &lo, &an.cm) || !(an.cs = chat_session_new(an.cm))) {
            cli_error("%s", status_message());
            goto out;
        }
    }
    eval_run_opts o;
    eval_run_opts_default(&o);
    o.images_dir = a->images;
    o.preds_path = preds;
    o.rescore = a->rescore;
    o.limit = a->limit;
    o.answer = chat_answer;
    o.ctx = &an;
    progress pg;
    progress_init(&pg, mode, a->quiet);
    o.on_progress = on_run_progress;
    o.on_error = on_question_error;
    o.cb_ctx = &pg;
    o.cancel = &cancelled;
    void (*old)(int) = signal(SIGINT, on_sigint);
    eval_run_result r;
    int st = eval_run(&qs, &o, &r);
    signal(SIGINT, old);
    if (st && st != ST_CANCELLED) {
        cli_error("%s", status_message());
        eval_run_result_release(&r);
        goto out;
    }
    if (st == ST_CANCELLED) fprintf(stderr, "seer: interrupted; run the same command again to resume\n");
    const char *fig_dir = !strcmp(mode, "router") ? a->out : a->router_out;
    if (fig_dir) {
        char what[600];
        snprintf(what, sizeof what, "%s (%llu answers)", file_base_name(a->questions), (unsigned long long)r.router.n_answers);
        if (write_router(&r.router, fig_dir, what)) {
            cli_error("%s", status_message());
            eval_run_result_release(&r);
            goto out;
        }
    }
    if (a->json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "mode", mode, "preds", preds, "questions",
                              (json_int_t)r.n_questions, "asked", (json_int_t)r.n_asked, "resumed",
                              (json_int_t)r.n_resumed, "failed", (json_int_t)r.n_failed, "predicted",
                              (json_int_t)r.n_predicted, "bad_lines", (json_int_t)r.n_bad_lines);
        if (an.cm) json_object_set_new(j, "model", json_string(chat_model_identity(an.cm)));
        if (r.n_vqa) json_object_set_new(j, "vqa", json_pack("{s:I, s:f}", "n", (json_int_t)r.n_vqa, "accuracy", r.vqa_accuracy));
        if (r.n_exact)
            json_object_set_new(j, "exact", json_pack("{s:I, s:f}", "n", (json_int_t)r.n_exact, "accuracy", r.exact_accuracy));
        if (r.n_pope_splits) {
            json_t *p = json_object();
            for (size_t i = 0; i < r.n_pope_splits; i++) json_object_set_new(p, r.pope[i].name, pope_json(&r.pope[i]));
            json_object_set_new(j, "pope", p);
        }
        if (r.router.n_layers) json_object_set_new(j, "router", router_stats_json(&r.router));
        char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        if (s) puts(s);
        free(s);
        json_decref(j);
    } else if (strcmp(mode, "router")) {
        print_results(mode, &r, preds);
    }
    eval_run_result_release(&r);
    rc = st == ST_CANCELLED ? 1 : 0;
out:
    chat_session_free(an.cs);
    chat_model_free(an.cm);
    eval_questions_release(&qs);
    return rc;
}

static int eval_router_preds(const char *preds, const char *out) {
    router_stats rs = {0};
    size_t n = 0;
    int rc = 1;
    if (eval_run_preds_router(preds, &rs, &n) || write_router(&rs, out, file_base_name(preds))) cli_error("%s", status_message());
    else rc = 0;
    router_stats_release(&rs);
    return rc;
}

/* ---------------------------------------------------------------- entry */

int cmd_eval(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        eval_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "retrieval") && strcmp(mode, "vqa") && strcmp(mode, "pope") && strcmp(mode, "router")) {
        cli_error("eval: unknown benchmark '%s' (retrieval, vqa, pope, router)", mode);
        return 2;
    }
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},          {"captions", required_argument, 0, 'c'},
        {"model", required_argument, 0, 'm'},       {"questions", required_argument, 0, 'Q'},
        {"answers", required_argument, 0, 'A'},     {"images", required_argument, 0, 'I'},
        {"preds", required_argument, 0, 'p'},       {"rescore", no_argument, 0, 'r'},
        {"limit", required_argument, 0, 'l'},       {"max-tokens", required_argument, 0, 'n'},
        {"vision-tower", required_argument, 0, 'V'}, {"models-root", required_argument, 0, 'R'},
        {"quant", required_argument, 0, 'q'},       {"router-out", required_argument, 0, 'o'},
        {"out", required_argument, 0, 'O'},         {"json", no_argument, 0, 'j'},
        {"quiet", no_argument, 0, 'z'},             {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *db = NULL, *caps = NULL;
    run_args a = {0};
    a.max_tokens = 128;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': db = optarg; break;
        case 'c': caps = optarg; break;
        case 'm': a.model = optarg; break;
        case 'Q': a.questions = optarg; break;
        case 'A': a.answers = optarg; break;
        case 'I': a.images = optarg; break;
        case 'p': a.preds = optarg; break;
        case 'r': a.rescore = 1; break;
        case 'l': if (cli_parse_int("--limit", optarg, 1, 1L << 40, &v)) return 2; a.limit = (size_t)v; break;
        case 'n': if (cli_parse_int("--max-tokens", optarg, 1, 1 << 16, &v)) return 2; a.max_tokens = (int)v; break;
        case 'V': a.vision_tower = optarg; break;
        case 'R': a.models_root = optarg; break;
        case 'q':
            if (strcmp(optarg, "q8")) {
                cli_error("--quant: only q8 is known, got '%s'", optarg);
                return 2;
            }
            a.quant = 1;
            break;
        case 'o': a.router_out = optarg; break;
        case 'O': a.out = optarg; break;
        case 'j': a.json = 1; break;
        case 'z': a.quiet = 1; break;
        case 'h': eval_usage(stdout); return 0;
        default: eval_usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        cli_error("eval %s: unexpected argument '%s'", mode, argv[optind + 1]);
        return 2;
    }
    if (!strcmp(mode, "retrieval")) {
        if (!db || !caps) {
            cli_error("eval retrieval: --db DIR and --captions FILE are required");
            return 2;
        }
        return eval_retrieval_cmd(db, caps, a.model, a.limit, a.json, a.quiet);
    }
    if (!strcmp(mode, "router")) {
        if (!a.out) {
            cli_error("eval router: --out DIR is required");
            return 2;
        }
        if (!a.questions) {
            if (!a.preds) {
                cli_error("eval router: give --preds FILE, or --model/--questions/--images for a fresh run");
                return 2;
            }
            return eval_router_preds(a.preds, a.out);
        }
    }
    if (!a.questions || (!a.rescore && !a.images)) {
        cli_error("eval %s: --questions FILE and --images DIR are required", mode);
        return 2;
    }
    return eval_run_cmd(mode, &a);
}
