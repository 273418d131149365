//! `cloze translate` and the `[translate]` stage: a fine-tuned checkpoint, loaded with search
//! settings checked against what the model takes.

use std::path::Path;

use anyhow::{Result, bail};

use crate::checkpoint::trained::TrainedTranslator;
use crate::device::DeviceChoice;
use crate::model::search::SearchConfig;

/// How to search, and how errors name the settings (the command's flags or the stage's keys).
#[derive(Clone, Debug)]
pub struct TranslateSettings {
    /// Hypotheses kept per sentence; 1 is greedy search.
    pub beam: usize,
    pub length_penalty: f64,
    /// Stop a sentence once `beam` hypotheses have finished ([`SearchConfig::early_stopping`]).
    pub early_stopping: bool,
    /// Tokens generated at most per sentence; by default (and at most) what the model takes.
    pub max_len: Option<usize>,
    /// Sentences decoded together.
    pub batch_size: usize,
    pub max_len_key: &'static str,
    pub beam_key: &'static str,
}

/// A fine-tuning checkpoint and the search it translates with.
pub struct CheckpointTranslator {
    pub translator: TrainedTranslator,
    pub search: SearchConfig,
    batch_size: usize,
}

impl CheckpointTranslator {
    /// Loads the checkpoint `checkpoint` names (a step or a run directory) on `device`.
    pub fn load(
        checkpoint: &Path,
        settings: &TranslateSettings,
        device: DeviceChoice,
    ) -> Result<Self> {
        let device = device.device()?;
        let translator = TrainedTranslator::load(checkpoint, &device)?;
        let max_len = translator.output_len(settings.max_len, settings.max_len_key)?;
        if settings.beam == 0 {
            bail!("{} must be at least 1", settings.beam_key);
        }
        let search = SearchConfig {
            beam: settings.beam,
            length_penalty: settings.length_penalty,
            max_len,
            early_stopping: settings.early_stopping,
        };
        Ok(Self {
            translator,
            search,
            batch_size: settings.batch_size,
        })
    }

    /// One translation per line, and the line numbers (from 1) of the sources cut to fit.
    pub fn translate(&self, lines: &[String]) -> Result<(Vec<String>, Vec<usize>)> {
        self.translator
            .translate(lines, &self.search, self.batch_size)
    }

    /// A warning for each source cut to fit, naming its line.
    pub fn warn_truncated(&self, truncated: &[usize]) {
        for line in truncated {
            tracing::warn!(
                "line {line}: longer than the model's {} tokens; translated its beginning",
                self.translator.seq_len()
            );
        }
    }
}
