/* model/pope_score.c — POPE answer parsing and metrics (rules in pope_score.h). */
#include "pope_score.h"

#include <string.h>

int pope_parse_answer(const char *text) {
    /* the first sentence, commas deleted, words split on ' ' */
    size_t end = strcspn(text, ".");
    size_t i = 0;
    while (i <= end) {
        char word[8];
        size_t w = 0, too_long = 0;
        for (; i < end && text[i] != ' '; i++) {
            if (text[i] == ',') continue;
            if (w < sizeof word - 1) word[w++] = text[i];
            else too_long = 1;
        }
        word[w] = 0;
        if (!too_long && (!strcmp(word, "No") || !strcmp(word, "no") || !strcmp(word, "not"))) return 0;
        i++; /* past the space (or the end) */
    }
    return 1;
}

int pope_parse_label(const char *label) { return strcmp(label, "no") != 0; }

void pope_counts_add(pope_counts *c, int pred_yes, int label_yes) {
    if (pred_yes && label_yes) c->tp++;
    else if (pred_yes) c->fp++;
    else if (!label_yes) c->tn++;
    else c->fn++;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

void pope_metrics_compute(const pope_counts *c, pope_metrics *m) {
    m->n = c->tp + c->fp + c->tn + c->fn;
    m->accuracy = ratio((double)(c->tp + c->tn), (double)m->n);
    m->precision = ratio((double)c->tp, (double)(c->tp + c->fp));
    m->recall = ratio((double)c->tp, (double)(c->tp + c->fn));
    m->f1 = ratio(2 * m->precision * m->recall, m->precision + m->recall);
    m->yes_ratio = ratio((double)(c->tp + c->fp), (double)m->n);
}
