//! Corpus BLEU and chrF, reproducing Python `sacrebleu` 2.5.1 with its default settings.
//!
//! Scores reported by this module are meant to be interchangeable with the figures
//! `sacrebleu.corpus_bleu(hyps, [refs])` and `sacrebleu.corpus_chrf(hyps, [refs])` print,
//! so every step mirrors sacrebleu's code, including its quirks: Python's notion of
//! whitespace, the 13a tokenizer's regexes, "exp" smoothing and the early exit when no
//! n-gram matches, and chrF's effective-order averaging of statistics summed over the corpus.
//! One reference per hypothesis is supported.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::LazyLock;

use anyhow::{Result, bail};
use regex::Regex;
use serde::Serialize;

/// Highest word n-gram order in BLEU (sacrebleu's `max_ngram_order`).
pub const BLEU_MAX_NGRAM_ORDER: usize = 4;

/// Highest character n-gram order in chrF (sacrebleu's `char_order`).
pub const CHRF_CHAR_ORDER: usize = 6;

/// Weight of recall relative to precision in chrF (sacrebleu's `beta`).
pub const CHRF_BETA: f64 = 2.0;

/// Python's `str.isspace`: Rust's `char::is_whitespace` plus the ASCII separators
/// U+001C..U+001F, which `str.split()` also splits on.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's argument-less `str.split()`.
fn split_python_whitespace(text: &str) -> impl Iterator<Item = &str> {
    text.split(is_python_whitespace)
        .filter(|piece| !piece.is_empty())
}

/// The regex substitutions of sacrebleu's `TokenizerRegexp`, applied in order.
static TOKENIZER_13A_RULES: LazyLock<[(Regex, &'static str); 4]> = LazyLock::new(|| {
    let rule = |pattern: &str, replacement| {
        (
            Regex::new(pattern).expect("13a patterns are valid"),
            replacement,
        )
    };
    [
        // Symbols `{|}~ [\]^_` space!"#$%& ()*+ :;<=>?@ /` become tokens of their own.
        rule(
            r"([\x7B-\x7E\x5B-\x60\x20-\x26\x28-\x2B\x3A-\x40\x2F])",
            " ${1} ",
        ),
        // Periods and commas split off unless between digits, so "1,000.5" stays whole.
        rule(r"([^0-9])([.,])", "${1} ${2} "),
        rule(r"([.,])([^0-9])", " ${1} ${2}"),
        // A dash after a digit splits off, so "3-4" becomes "3 - 4".
        rule(r"([0-9])(-)", "${1} ${2} "),
    ]
});

/// Tokenizes a line with sacrebleu's default "13a" tokenizer (mteval-v13a as used by WMT).
///
/// Drops `<skipped>`, joins hyphenated line breaks, unescapes `&quot;`, `&amp;`, `&lt;`,
/// `&gt;`, splits off ASCII punctuation, and returns the tokens joined by single spaces.
pub fn tokenize_13a(line: &str) -> String {
    let mut line = line
        .replace("<skipped>", "")
        .replace("-\n", "")
        .replace('\n', " ");
    if line.contains('&') {
        line = line
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (pattern, replacement) in TOKENIZER_13A_RULES.iter() {
        line = pattern.replace_all(&line, *replacement).into_owned();
    }
    split_python_whitespace(&line).collect::<Vec<_>>().join(" ")
}

/// Corpus BLEU as sacrebleu's `BLEUScore` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BleuScore {
    /// BLEU on a 0-100 scale.
    pub score: f64,
    /// Smoothed n-gram precisions for n = 1..4, each on a 0-100 scale.
    pub precisions: [f64; BLEU_MAX_NGRAM_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    /// Number of hypothesis tokens after 13a tokenization.
    pub sys_len: usize,
    /// Number of reference tokens after 13a tokenization.
    pub ref_len: usize,
    /// Clipped matching n-gram counts for n = 1..4.
    pub counts: [usize; BLEU_MAX_NGRAM_ORDER],
    /// Hypothesis n-gram counts for n = 1..4.
    pub totals: [usize; BLEU_MAX_NGRAM_ORDER],
}

/// Corpus chrF as sacrebleu's `CHRFScore` reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChrfScore {
    /// chrF2 on a 0-100 scale.
    pub score: f64,
}

/// Computes corpus BLEU of `hypotheses` against one reference each, like
/// `sacrebleu.corpus_bleu(hypotheses, [references])`.
///
/// Fails when the two slices differ in length (sacrebleu would silently truncate) or are empty.
pub fn corpus_bleu(hypotheses: &[String], references: &[String]) -> Result<BleuScore> {
    check_parallel(hypotheses, references)?;
    let mut sys_len = 0;
    let mut ref_len = 0;
    let mut counts = [0; BLEU_MAX_NGRAM_ORDER];
    let mut totals = [0; BLEU_MAX_NGRAM_ORDER];
    for (hypothesis, reference) in hypotheses.iter().zip(references) {
        let hypothesis = tokenize_13a(hypothesis.trim_end_matches(is_python_whitespace));
        let reference = tokenize_13a(reference.trim_end_matches(is_python_whitespace));
        let hypothesis: Vec<&str> = split_python_whitespace(&hypothesis).collect();
        let reference: Vec<&str> = split_python_whitespace(&reference).collect();
        sys_len += hypothesis.len();
        ref_len += reference.len();
        for order in 1..=BLEU_MAX_NGRAM_ORDER {
            let [matched, total] = ngram_overlap(&hypothesis, &reference, order);
            counts[order - 1] += matched;
            totals[order - 1] += total;
        }
    }
    Ok(bleu_from_statistics(counts, totals, sys_len, ref_len))
}

/// sacrebleu's `BLEU.compute_bleu` with "exp" smoothing and no effective order.
fn bleu_from_statistics(
    counts: [usize; BLEU_MAX_NGRAM_ORDER],
    totals: [usize; BLEU_MAX_NGRAM_ORDER],
    sys_len: usize,
    ref_len: usize,
) -> BleuScore {
    let bp = match (sys_len < ref_len, sys_len > 0) {
        (false, _) => 1.0,
        (true, true) => (1.0 - ref_len as f64 / sys_len as f64).exp(),
        (true, false) => 0.0,
    };
    let mut score = BleuScore {
        score: 0.0,
        precisions: [0.0; BLEU_MAX_NGRAM_ORDER],
        bp,
        sys_len,
        ref_len,
        counts,
        totals,
    };
    // sacrebleu returns zero precisions, unsmoothed, when nothing matches at all.
    if counts.iter().all(|&matched| matched == 0) {
        return score;
    }
    let mut smoothing = 1.0;
    for order in 0..BLEU_MAX_NGRAM_ORDER {
        if totals[order] == 0 {
            break;
        }
        score.precisions[order] = if counts[order] == 0 {
            smoothing *= 2.0;
            100.0 / (smoothing * totals[order] as f64)
        } else {
            100.0 * counts[order] as f64 / totals[order] as f64
        };
    }
    let log_sum: f64 = score.precisions.iter().map(|&p| floored_ln(p)).sum();
    score.score = bp * (log_sum / BLEU_MAX_NGRAM_ORDER as f64).exp();
    score
}

/// sacrebleu's `my_log`: a zero precision contributes a huge negative log instead of -inf.
fn floored_ln(value: f64) -> f64 {
    if value == 0.0 {
        -9_999_999_999.0
    } else {
        value.ln()
    }
}

/// Computes corpus chrF (character 6-grams, beta 2, whitespace removed) of `hypotheses`
/// against one reference each, like `sacrebleu.corpus_chrf(hypotheses, [references])`.
///
/// Fails when the two slices differ in length (sacrebleu would silently truncate) or are empty.
pub fn corpus_chrf(hypotheses: &[String], references: &[String]) -> Result<ChrfScore> {
    check_parallel(hypotheses, references)?;
    let mut statistics = [[0; 3]; CHRF_CHAR_ORDER];
    for (hypothesis, reference) in hypotheses.iter().zip(references) {
        let hypothesis: Vec<char> = hypothesis
            .chars()
            .filter(|&c| !is_python_whitespace(c))
            .collect();
        let reference: Vec<char> = reference
            .chars()
            .filter(|&c| !is_python_whitespace(c))
            .collect();
        for (order, [hyp_count, ref_count, matched]) in statistics.iter_mut().enumerate() {
            let order = order + 1;
            let [order_matched, order_hyp_count] = ngram_overlap(&hypothesis, &reference, order);
            let order_ref_count = reference.len().saturating_sub(order - 1);
            // Hypothesis n-grams count only where the reference has n-grams of this order.
            if order_ref_count > 0 {
                *hyp_count += order_hyp_count;
            }
            *ref_count += order_ref_count;
            *matched += order_matched;
        }
    }
    Ok(ChrfScore {
        score: chrf_from_statistics(&statistics),
    })
}

/// sacrebleu's `CHRF._compute_f_score` without eps smoothing: precision and recall are
/// averaged over the orders where both sides have n-grams, then combined into F-beta.
fn chrf_from_statistics(statistics: &[[usize; 3]; CHRF_CHAR_ORDER]) -> f64 {
    let mut precision = 0.0;
    let mut recall = 0.0;
    let mut effective_order = 0;
    for &[hyp_count, ref_count, matched] in statistics {
        if hyp_count > 0 && ref_count > 0 {
            precision += matched as f64 / hyp_count as f64;
            recall += matched as f64 / ref_count as f64;
            effective_order += 1;
        }
    }
    if effective_order > 0 {
        precision /= effective_order as f64;
        recall /= effective_order as f64;
    }
    if precision + recall == 0.0 {
        return 0.0;
    }
    let factor = CHRF_BETA * CHRF_BETA;
    let f_score = (1.0 + factor) * precision * recall / (factor * precision + recall);
    100.0 * f_score
}

/// Returns `[clipped matches, hypothesis n-grams]` for n-grams of length `order`.
fn ngram_overlap<T: Eq + Hash>(hypothesis: &[T], reference: &[T], order: usize) -> [usize; 2] {
    let hypothesis_counts = ngram_counts(hypothesis, order);
    let reference_counts = ngram_counts(reference, order);
    let matched = hypothesis_counts
        .iter()
        .map(|(ngram, &count)| count.min(reference_counts.get(ngram).copied().unwrap_or(0)))
        .sum();
    [matched, hypothesis.len().saturating_sub(order - 1)]
}

fn ngram_counts<T: Eq + Hash>(items: &[T], order: usize) -> HashMap<&[T], usize> {
    let mut counts = HashMap::new();
    for ngram in items.windows(order) {
        *counts.entry(ngram).or_insert(0) += 1;
    }
    counts
}

fn check_parallel(hypotheses: &[String], references: &[String]) -> Result<()> {
    if hypotheses.len() != references.len() {
        bail!(
            "{} hypotheses but {} references: each hypothesis needs exactly one reference",
            hypotheses.len(),
            references.len()
        );
    }
    if hypotheses.is_empty() {
        bail!("cannot score an empty corpus: no hypotheses and no references");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "got {actual}, expected {expected}"
        );
    }

    fn assert_bleu(hypotheses: &[&str], references: &[&str], expected: BleuScore) {
        let bleu = corpus_bleu(&lines(hypotheses), &lines(references)).unwrap();
        assert_close(bleu.score, expected.score);
        for (actual, expected) in bleu.precisions.iter().zip(expected.precisions) {
            assert_close(*actual, expected);
        }
        assert_close(bleu.bp, expected.bp);
        assert_eq!(
            [bleu.sys_len, bleu.ref_len],
            [expected.sys_len, expected.ref_len]
        );
        assert_eq!(bleu.counts, expected.counts);
        assert_eq!(bleu.totals, expected.totals);
    }

    fn chrf(hypotheses: &[&str], references: &[&str]) -> f64 {
        corpus_chrf(&lines(hypotheses), &lines(references))
            .unwrap()
            .score
    }

    #[test]
    fn whitespace_matches_python_isspace() {
        // [c for c in range(0x110000) if chr(c).isspace()] under Python 3.11.
        let python: Vec<u32> = [
            0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
            0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
            0x2029, 0x202f, 0x205f, 0x3000,
        ]
        .to_vec();
        let ours: Vec<u32> = (0..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter(|&c| is_python_whitespace(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, python);
    }

    #[test]
    fn tokenize_13a_matches_sacrebleu() {
        let cases = [
            ("Hello, world!", "Hello , world !"),
            (
                "It costs $1,000.50, right?",
                "It costs $ 1,000.50 , right ?",
            ),
            ("1,000.5", "1,000.5"),
            (
                "&quot;quoted&quot; &amp; &lt;tag&gt; &amp;quot;",
                "\" quoted \" & < tag > & quot ;",
            ),
            ("a <skipped> b", "a b"),
            (
                "state-of-the-art 3-4 x-1 2-",
                "state-of-the-art 3 - 4 x-1 2 -",
            ),
            (
                "end. U.S.A. e.g., this 3.14.",
                "end . U . S . A . e . g . , this 3.14 .",
            ),
            (
                "Café «bonjour» — naïve’s 한국어, 테스트.",
                "Café «bonjour» — naïve’s 한국어 , 테스트 .",
            ),
            ("  a\tb\u{a0}c\u{3000}d  ", "a b c d"),
            ("a\u{1f}b\u{85}c\u{200b}d", "a b c\u{200b}d"),
            ("line-\nbreak\nhere", "linebreak here"),
            (
                "(x){y}[z]|a~b^c_d`e\\f/g:h;i<j=k>l?m@n'o\"p#q%r*s+t",
                "( x ) { y } [ z ] | a ~ b ^ c _ d ` e \\ f / g : h ; i < j = k > l ? m @ n'o \" p # q % r * s + t",
            ),
            ("", ""),
            (".,", ". ,"),
            ("AT&T", "AT & T"),
        ];
        for (line, expected) in cases {
            assert_eq!(tokenize_13a(line), expected, "tokenizing {line:?}");
        }
    }

    #[test]
    fn identical_corpus_scores_100() {
        let text = ["The cat sat on the mat."];
        assert_bleu(
            &text,
            &text,
            BleuScore {
                score: 100.00000000000004,
                precisions: [100.0; 4],
                bp: 1.0,
                sys_len: 7,
                ref_len: 7,
                counts: [7, 6, 5, 4],
                totals: [7, 6, 5, 4],
            },
        );
        assert_close(chrf(&text, &text), 100.0);
    }

    #[test]
    fn empty_hypothesis_line_counts_against_recall() {
        let hypotheses = ["the cat is on the mat", ""];
        let references = ["the cat sat on the mat", "there is a dog"];
        assert_bleu(
            &hypotheses,
            &references,
            BleuScore {
                score: 19.505632433269746,
                precisions: [83.33333333333333, 60.0, 25.0, 16.666666666666668],
                bp: 0.513417119032592,
                sys_len: 6,
                ref_len: 10,
                counts: [5, 3, 1, 0],
                totals: [6, 5, 4, 3],
            },
        );
        assert_close(chrf(&hypotheses, &references), 41.798351923477604);
    }

    #[test]
    fn all_empty_hypotheses_score_zero() {
        let hypotheses = ["", ""];
        let references = ["a b", "c"];
        assert_bleu(
            &hypotheses,
            &references,
            BleuScore {
                score: 0.0,
                precisions: [0.0; 4],
                bp: 0.0,
                sys_len: 0,
                ref_len: 3,
                counts: [0; 4],
                totals: [0; 4],
            },
        );
        assert_close(chrf(&hypotheses, &references), 0.0);
    }

    #[test]
    fn exp_smoothing_and_brevity_penalty() {
        let hypotheses = ["a b c d e"];
        let references = ["a b x d e f g h"];
        assert_bleu(
            &hypotheses,
            &references,
            BleuScore {
                score: 16.58165975077607,
                precisions: [80.0, 50.0, 16.666666666666668, 12.5],
                bp: 0.5488116360940264,
                sys_len: 5,
                ref_len: 8,
                counts: [4, 2, 0, 0],
                totals: [5, 4, 3, 2],
            },
        );
        assert_close(chrf(&hypotheses, &references), 17.06443914081146);
    }

    #[test]
    fn missing_higher_orders_make_bleu_zero() {
        assert_bleu(
            &["a b"],
            &["a b"],
            BleuScore {
                score: 0.0,
                precisions: [100.0, 100.0, 0.0, 0.0],
                bp: 1.0,
                sys_len: 2,
                ref_len: 2,
                counts: [2, 1, 0, 0],
                totals: [2, 1, 0, 0],
            },
        );
        assert_close(chrf(&["a b"], &["a b"]), 100.0);
    }

    #[test]
    fn no_matches_keep_precisions_unsmoothed() {
        assert_bleu(
            &["x"],
            &["y"],
            BleuScore {
                score: 0.0,
                precisions: [0.0; 4],
                bp: 1.0,
                sys_len: 1,
                ref_len: 1,
                counts: [0; 4],
                totals: [1, 0, 0, 0],
            },
        );
        assert_close(chrf(&["x"], &["y"]), 0.0);
    }

    #[test]
    fn punctuation_and_multiple_lines() {
        let hypotheses = [
            "The quick brown fox jumps over the lazy dog.",
            "Hello there, General Kenobi!",
        ];
        let references = [
            "The quick brown fox jumped over the lazy dog .",
            "Hello there General Kenobi",
        ];
        assert_bleu(
            &hypotheses,
            &references,
            BleuScore {
                score: 50.54892965740892,
                precisions: [81.25, 64.28571428571429, 41.666666666666664, 30.0],
                bp: 1.0,
                sys_len: 16,
                ref_len: 14,
                counts: [13, 9, 5, 3],
                totals: [16, 14, 12, 10],
            },
        );
        assert_close(chrf(&hypotheses, &references), 86.52082077850712);
    }

    #[test]
    fn hangul_counts_characters() {
        let hypotheses = ["한국어 문장을 번역합니다", "고양이가 매트 위에 앉았다"];
        let references = ["한국어 문장을 번역했습니다", "고양이가 매트에 앉았다"];
        assert_bleu(
            &hypotheses,
            &references,
            BleuScore {
                score: 26.269098944241577,
                precisions: [57.142857142857146, 20.0, 16.666666666666668, 25.0],
                bp: 1.0,
                sys_len: 7,
                ref_len: 6,
                counts: [4, 1, 0, 0],
                totals: [7, 5, 3, 1],
            },
        );
        assert_close(chrf(&hypotheses, &references), 61.669372294372295);
    }

    #[test]
    fn empty_reference_line_ignores_its_hypothesis_in_chrf() {
        let hypotheses = ["something", "else"];
        let references = ["", "else here"];
        assert_bleu(
            &hypotheses,
            &references,
            BleuScore {
                score: 0.0,
                precisions: [50.0, 0.0, 0.0, 0.0],
                bp: 1.0,
                sys_len: 2,
                ref_len: 2,
                counts: [1, 0, 0, 0],
                totals: [2, 0, 0, 0],
            },
        );
        assert_close(chrf(&hypotheses, &references), 41.85983092446141);
    }

    #[test]
    fn short_hypothesis_gets_brevity_penalty() {
        let hypotheses = ["a b c d"];
        let references = ["a b c d e f g h i j"];
        assert_bleu(
            &hypotheses,
            &references,
            BleuScore {
                score: 22.31301601484299,
                precisions: [100.0; 4],
                bp: 0.22313016014842982,
                sys_len: 4,
                ref_len: 10,
                counts: [4, 3, 2, 1],
                totals: [4, 3, 2, 1],
            },
        );
        assert_close(chrf(&hypotheses, &references), 32.879188099541224);
    }

    #[test]
    fn trailing_whitespace_is_stripped_before_tokenizing() {
        // Without the strip, 13a would join "four-\n" into "four".
        let expected = BleuScore {
            score: 100.00000000000004,
            precisions: [100.0; 4],
            bp: 1.0,
            sys_len: 4,
            ref_len: 4,
            counts: [4, 3, 2, 1],
            totals: [4, 3, 2, 1],
        };
        assert_bleu(
            &["one two three four-\n"],
            &["one two three four-"],
            expected,
        );
    }

    #[test]
    fn mismatched_or_empty_corpora_are_rejected() {
        let error = corpus_bleu(&lines(&["a", "b"]), &lines(&["a"]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("2 hypotheses") && error.contains("1 references"),
            "{error}"
        );
        let error = corpus_chrf(&lines(&["a"]), &lines(&["a", "b", "c"]))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("1 hypotheses") && error.contains("3 references"),
            "{error}"
        );
        assert!(corpus_bleu(&[], &[]).is_err());
        assert!(corpus_chrf(&[], &[]).is_err());
    }

    #[test]
    fn scores_serialize_with_sacrebleu_field_names() {
        let bleu = corpus_bleu(&lines(&["a b c d"]), &lines(&["a b c d"])).unwrap();
        let json = serde_json::to_value(&bleu).unwrap();
        for field in ["score", "precisions", "bp", "sys_len", "ref_len"] {
            assert!(json.get(field).is_some(), "missing {field} in {json}");
        }
    }
}
