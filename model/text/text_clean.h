/* model/text/text_clean.h — CLIP's text clean-up before tokenisation.
 *
 * Reproduces what openai/CLIP's simple_tokenizer does to a text before it
 * splits it into words: basic_clean (ftfy.fix_text, then html.unescape
 * twice, then strip), whitespace_clean (collapse every run of Unicode
 * White_Space to one ' ', strip) and Python's str.lower(). The CLIP
 * tokenizer (clip_tokenizer.c) calls it first; it needs no vocabulary.
 *
 *     char *clean;
 *     if (text_clean("  A &amp; B\u2019s  CAFÉ ", &clean, NULL) == 0)
 *         ;   // clean = "a & b's café"
 *     free(clean);
 *
 * The ftfy subset implemented (ftfy 6 defaults, looped to a fixed point like
 * fix_and_explain): unescape_html in "auto" mode (only when the text has no
 * '<'; entities must end in ';'), fix_c1_controls (U+0080..U+009F read as
 * windows-1252), fix_latin_ligatures, fix_character_width (U+FF01..U+FFEF
 * to their NFKC form, U+3000 to ' '), uncurl_quotes (U+02BC, U+2018..U+201B
 * to '\'', U+201C..U+201F to '"'), fix_line_breaks, remove_terminal_escapes,
 * remove_control_chars and NFC normalisation.
 *
 * NOT reproduced (text hitting these may tokenise differently from openai):
 *   - fix_encoding: no mojibake repair ("cafÃ©" stays "cafÃ©", ftfy makes it
 *     "café"), and none of its sub-steps restore_byte_a0,
 *     replace_lossy_sequences, decode_inconsistent_utf8;
 *   - fix_surrogates: not needed, valid UTF-8 cannot hold surrogates;
 *   - ftfy's per-line segmentation and max_decode_length (the whole text is
 *     fixed as one segment; no difference known for the steps above);
 *   - HTML entities: a built-in table (all Latin-1 names, the HTML4 quotes,
 *     dashes, arrows, currency, OElig/Scaron/... and a few others) rather
 *     than Python's full 2,231-entry html5 table; a name outside the table is
 *     left as written (or, like html.unescape, its longest Latin-1 "legacy"
 *     prefix is decoded). ftfy's upper-case variants ("&EACUTE;") are not
 *     recognised. Numeric references follow html.unescape exactly
 *     (windows-1252 for 0x80..0x9F, U+FFFD for 0/surrogates/out of range,
 *     the "invalid" control code points removed).
 *   - Lower-casing is utf8proc's simple mapping plus the two context-free
 *     and Final_Sigma rules Python applies (U+0130 → "i\u0307", Σ → ς at a
 *     word end); Unicode versions of utf8proc and of Python may differ.
 *
 * Thread-safety: no state; any number of threads may call it at once.
 */
#ifndef SEER_TEXT_CLEAN_H
#define SEER_TEXT_CLEAN_H

#include <stddef.h>

/* Clean NUL-terminated UTF-8 text: *out is a malloc'd NUL-terminated UTF-8
 * string (caller frees) and *len (may be NULL) its length in bytes. ST_ARG
 * for NULL or invalid-UTF-8 text (the message gives the byte offset),
 * ST_NOMEM. */
int text_clean(const char *text, char **out, size_t *len);

#endif
