//! The arguments of `report`.

use std::path::PathBuf;

use clap::Args;
use cloze::report::ReportOptions;
use cloze::report::plots::PlotSize;

#[derive(Args)]
#[command(
    after_long_help = "Reads RUN_DIR/metrics.csv (required), config.toml, and valid.json, eval.json \
and translate.json when present. Writes report.html with loss.png, accuracy.png, bleu.png \
(fine-tuning runs), lr.png and tokens_per_s.png beside it. A run still training, or one that was \
interrupted, is reported as far as it got. Example:\n  cloze report runs/quickstart"
)]
pub struct ReportArgs {
    /// A run directory of `cloze pretrain` or `cloze finetune`.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: PathBuf,
    /// Where report.html and the plots are written (created if missing). Default: RUN_DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Width of each plot, in pixels (200 to 8000).
    #[arg(long, default_value_t = PlotSize::default().width, value_name = "PIXELS")]
    pub width: u32,
    /// Height of each plot, in pixels (200 to 8000).
    #[arg(long, default_value_t = PlotSize::default().height, value_name = "PIXELS")]
    pub height: u32,
}

impl ReportArgs {
    pub fn options(&self) -> ReportOptions {
        ReportOptions {
            out: self.out.clone(),
            size: PlotSize {
                width: self.width,
                height: self.height,
            },
        }
    }
}
