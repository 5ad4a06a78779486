/* model/eval_questions.h — question files for `seer eval vqa / pope`: the
 * formats the MoE-LLaVA / LLaVA evaluations use, read into one list.
 *
 *     eval_questions qs;
 *     if (eval_questions_load("pope_coco.jsonl", NULL, &qs)) die(status_message());
 *     for (size_t i = 0; i < qs.n; i++) ask(qs.q[i].image, qs.q[i].question);
 *     eval_questions_release(&qs);
 *
 * Accepted questions files (by content):
 *   JSON lines, one question per line (MoE-LLaVA eval jsonl, GQA-style, POPE):
 *     {"question_id": 1 | "1", "image": "x.jpg", "text" | "question": "...",
 *      optional ground truth: "answers": ["a", ...] or [{"answer": "a"}, ...]
 *      (VQAv2 soft accuracy), "answer": "a" (exact match, GQA), "label":
 *      "yes"|"no" (POPE), and "category" (POPE split: random / popular /
 *      adversarial)}
 *   VQAv2 / OK-VQA JSON: {"questions": [{"question_id", "image_id", "question"}],
 *     "data_subtype": "val2014" (optional), "annotations": [...] (optional,
 *     as in an annotation file)}. The image is "<image_id as 12 digits>.jpg"
 *     (COCO 2017 names), else "COCO_<data_subtype>_<12 digits>.jpg" (2014
 *     names): both are kept, the runner takes the one that exists.
 * The answers file (--answers, optional) adds ground truth by question_id:
 *   VQAv2 annotations JSON {"annotations": [{"question_id", "answers":
 *   [{"answer"}], ...}]}, or JSON lines with "answers" / "answer" / "label"
 *   (a POPE label file: coco_pope_<split>.json lines).
 * Question ids are kept as text ("42" for 42) and must be unique.
 *
 * Ownership: eval_questions owns every string (eval_questions_release).
 */
#ifndef SEER_EVAL_QUESTIONS_H
#define SEER_EVAL_QUESTIONS_H

#include <stddef.h>

/* What a question's ground truth allows. */
typedef enum {
    EVAL_GT_NONE  = 0,   /* no ground truth: predictions only */
    EVAL_GT_VQA   = 1,   /* human answers: VQAv2 soft accuracy */
    EVAL_GT_EXACT = 2,   /* one answer: exact match (GQA) */
    EVAL_GT_POPE  = 3,   /* yes/no label: POPE metrics */
} eval_gt;

typedef struct {
    char  *id;          /* question_id as text */
    int    id_is_int;   /* the file gave a number */
    char  *image;       /* file name under --images */
    char  *image_alt;   /* second candidate name, or NULL */
    char  *question;    /* as given (may already end with the short-answer prompt) */
    int    gt;          /* eval_gt */
    char **answers;     /* (n_answers) human answers / the one answer / the label */
    int    n_answers;
    char  *category;    /* POPE split, or NULL */
} eval_question;

typedef struct {
    eval_question *q;
    size_t         n;
} eval_questions;

int  eval_questions_load(const char *path, const char *answers_path, eval_questions *out);
void eval_questions_release(eval_questions *qs);

#endif
