//! The font of the plots' text. plotters' default `ttf` feature finds fonts through the system's
//! fontconfig and freetype; the `ab_glyph` feature used here draws from font bytes registered at
//! run time, so the build needs no system library. The bytes are Hack Regular (a DejaVu Sans
//! Mono derivative under the MIT and Bitstream Vera licences) as bundled by the
//! `epaint_default_fonts` crate, egui's own font crate, kept up to date with egui's releases.

use std::sync::OnceLock;

use anyhow::{Result, ensure};
use plotters::style::FontStyle;

/// The family every piece of text in the plots is drawn with (plotters' default family).
pub const FAMILY: &str = "sans-serif";

/// Registers the bundled font under [`FAMILY`]; cheap after the first call.
pub fn register() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FAMILY,
            FontStyle::Normal,
            epaint_default_fonts::HACK_REGULAR,
        )
        .is_ok()
    });
    ensure!(registered, "the bundled plot font cannot be read");
    Ok(())
}
