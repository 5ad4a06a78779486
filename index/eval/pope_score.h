/* model/pope_score.h — POPE (object hallucination) scoring: yes/no answer
 * parsing and the binary metrics.
 *
 *     pope_counts c = {0};
 *     pope_counts_add(&c, pope_parse_answer("No, there is not."), 0);   // pred no, label no
 *     pope_metrics m;
 *     pope_metrics_compute(&c, &m);      // m.accuracy = 1, m.yes_ratio = 0
 *
 * Answer rule (LLaVA's eval_pope.py, which MoE-LLaVA runs unchanged): keep
 * the text before the first '.', delete every ',', split on single spaces;
 * the answer is "no" when one of the words is exactly "No", "no" or "not",
 * else "yes" (so "Yes", "yes", "", "There is a dog" are all yes; "NO" and
 * "No!" are yes too — the rule is kept as published). Labels are "yes"/"no";
 * anything but "no" counts as yes, as there.
 *
 * Metrics (positive = yes): accuracy (TP+TN)/N, precision TP/(TP+FP), recall
 * TP/(TP+FN), F1 = 2PR/(P+R), yes-ratio = predicted yes / N. Where the
 * script would divide by zero, the value here is 0.
 */
#ifndef SEER_POPE_SCORE_H
#define SEER_POPE_SCORE_H

#include <stdint.h>

/* 1 = yes, 0 = no. */
int pope_parse_answer(const char *text);
/* 1 unless label is "no". */
int pope_parse_label(const char *label);

typedef struct {
    uint64_t tp, fp, tn, fn;
} pope_counts;

void pope_counts_add(pope_counts *c, int pred_yes, int label_yes);

typedef struct {
    uint64_t n;
    double   accuracy, precision, recall, f1, yes_ratio;
} pope_metrics;

void pope_metrics_compute(const pope_counts *c, pope_metrics *m);

#endif
