/* model/vqa_score.h — answer scoring for visual question answering: the
 * VQAv2 soft accuracy with the official answer normalisation, and the GQA
 * exact match.
 *
 *     const char *gts[10] = {"two", "2", "2", ...};
 *     double acc;
 *     vqa_accuracy("Two.", gts, 10, &acc);        // acc = 1: "two." -> "2"
 *     int hit = gqa_exact_match("Yes.", "yes");   // 1
 *
 * The rules are those of the VQA evaluation script (GT-Vision-Lab/VQA,
 * PythonEvaluationTools/vqaEvaluation/vqaEval.py), re-implemented here, with
 * its quirks kept because published numbers depend on them:
 *
 *   prediction: '\n' and '\t' become spaces, strip, then
 *     vqa_process_punctuation, then vqa_process_digit_article.
 *   ground truths: vqa_process_punctuation ONLY, and only when the humans
 *     did not all give the same string (a unanimous set is left untouched);
 *     no lower-casing, no number words, no articles on this side.
 *   accuracy: for each of the n ground truths, the other n-1 are a subset;
 *     acc_i = min(1, #(others equal to the prediction) / 3); the answer's
 *     accuracy is the mean of acc_i (with 10 answers: the 10-choose-9
 *     average of min(#humans/3, 1)).
 *
 *   vqa_process_punctuation(s): for each of ; : / ' [ ] " ( ) = + \ _ > < @ ` , ?
 *     in that order: if the ORIGINAL s has "p " or " p", or has a
 *     digit-comma-digit anywhere, the character is deleted from the running
 *     text, else replaced by a space. Then periods not followed by a digit
 *     are deleted ("3.5" keeps its period, "end." loses it) — at most 32 of
 *     them: the script passes re.UNICODE (32) as sub()'s count argument. The
 *     script's "(?!<=\d)" is a look-ahead, not a look-behind, so a period
 *     after a digit is deleted too ("5." -> "5"). '-', '!' are not in the list.
 *   vqa_process_digit_article(s): lower-case, split on whitespace, map the
 *     number words none/zero..ten to digits, drop a/an/the, then map
 *     apostrophe-less contractions ("dont" -> "don’t", mostly with U+2019 as
 *     the script has them), join with single spaces.
 *
 * Lower-casing is Unicode-aware (utf8proc simple case mapping, as Python's
 * str.lower() for all but a few multi-character mappings); splitting is on
 * ASCII whitespace only (Python also splits on Unicode spaces).
 *
 * GQA exact match (as the LLaVA / MoE-LLaVA GQA conversion does it):
 * prediction with trailing periods removed, lower-cased, compared with the
 * lower-cased gold answer; both stripped of surrounding whitespace.
 *
 * Ownership: every char ** output is malloc'd; the caller frees it.
 * All functions are reentrant.
 */
#ifndef SEER_VQA_SCORE_H
#define SEER_VQA_SCORE_H

/* The script's processPunctuation. */
int vqa_process_punctuation(const char *in, char **out);
/* The script's processDigitArticle. */
int vqa_process_digit_article(const char *in, char **out);
/* The whole prediction-side normalisation (whitespace, strip, both steps). */
int vqa_normalize_answer(const char *in, char **out);

/* Soft accuracy in [0, 1] of a raw prediction against n raw human answers
 * (n >= 1; VQAv2 has 10). ST_ARG for n < 1. */
int vqa_accuracy(const char *pred, const char *const *gts, int n, double *acc);

/* 1 when pred matches gold under the GQA rule above, else 0. */
int gqa_exact_match(const char *pred, const char *gold);

/* The short-answer instruction the MoE-LLaVA eval scripts append to
 * VQAv2 / GQA / POPE questions. */
#define VQA_SHORT_ANSWER_PROMPT "\nAnswer the question using a single word or phrase."

/* question + VQA_SHORT_ANSWER_PROMPT, unless question already ends with it
 * (the MoE-LLaVA jsonl files carry it). */
int vqa_prompt(const char *question, char **out);

#endif
