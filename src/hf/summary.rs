//! What `cloze export hf` and `cloze import hf` print about what they wrote.

use std::path::Path;

use crate::config::model_section::Arch;
use crate::hf::export::ExportSummary;
use crate::hf::import::ImportSummary;

/// The checkpoint exported, then each file written.
pub fn export_lines(summary: &ExportSummary) -> Vec<String> {
    let mut lines = vec![format!(
        "exported {} (step {}): {} tensors, {} parameters",
        summary.checkpoint.display(),
        summary.step,
        summary.tensors,
        summary.parameters
    )];
    lines.extend(
        summary
            .files
            .iter()
            .map(|file| format!("wrote {}", file.display())),
    );
    lines
}

/// The tensors left out, the model written to `out`, and how to continue pretraining it.
pub fn import_lines(out: &Path, summary: &ImportSummary) -> Vec<String> {
    let mut lines = Vec::new();
    if !summary.ignored.is_empty() {
        lines.push(format!(
            "ignored {} tensors a masked-LM model has no use for: {}",
            summary.ignored.len(),
            summary.ignored.join(", ")
        ));
    }
    let m = &summary.config.model;
    let arch = match m.arch {
        Arch::ModernBert => "ModernBERT",
        _ => "BERT",
    };
    lines.push(format!(
        "wrote {}: {arch}, d_model {}, {} layers, {} heads, d_ff {}, {} positions, {} parameters",
        out.display(),
        m.d_model.unwrap_or_default(),
        m.n_layers.unwrap_or_default(),
        m.n_heads.unwrap_or_default(),
        m.d_ff.unwrap_or_default(),
        m.max_positions.unwrap_or_default(),
        summary.parameters
    ));
    lines.push(format!(
        "continue pretraining with init = \"{}\" in the [pretrain] table (its [model] table is \
         taken from the checkpoint)",
        out.display()
    ));
    lines
}
