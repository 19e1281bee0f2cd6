//! `hiha compare --plots DIR`: PNGs drawn with plotters (bitmap backend,
//! text through ab_glyph with a bundled font, PNG written by the `png`
//! crate): per level an error map, the zonal spectra ratio, and an error
//! histogram. Pure Rust: no system fonts, no C library.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{anyhow, Context, Result};
use hiha_core::fidelity::Fidelity;
use hiha_core::field::Field;
use plotters::prelude::*;
use plotters::style::{FontFamily, FontStyle};

/// DejaVu Sans cut to ASCII and a few symbols (assets/FONT-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans-subset.ttf");
const FAMILY: &str = "hiha-sans";
const W: u32 = 960;
const H: u32 = 540;

fn font_ready() -> Result<()> {
    static ONCE: Once = Once::new();
    let mut ok = true;
    ONCE.call_once(|| {
        ok = plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok();
    });
    if ok {
        Ok(())
    } else {
        Err(anyhow!("the bundled plot font does not load"))
    }
}

fn font(size: f64) -> TextStyle<'static> {
    (FontFamily::Name(FAMILY), size).into_font().into()
}

/// A file name part made of the variable name's safe characters.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Draws into an RGB buffer and writes it as PNG.
fn png(
    path: &Path,
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>) -> Result<()>,
) -> Result<()> {
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut buf, (W, H)).into_drawing_area();
        draw(&area)?;
        area.present()
            .map_err(|e| anyhow!("drawing {}: {e}", path.display()))?;
    }
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), W, H);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc
        .write_header()
        .with_context(|| format!("writing {}", path.display()))?;
    w.write_image_data(&buf)
        .with_context(|| format!("writing {}", path.display()))?;
    w.finish()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn draw_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing a plot: {e}")
}

/// Blue (−1) – white (0) – red (+1).
fn diverging(t: f64) -> RGBColor {
    let t = t.clamp(-1.0, 1.0);
    let c = |x: f64| (255.0 * (1.0 - x)).round() as u8;
    if t >= 0.0 {
        RGBColor(255, c(t), c(t))
    } else {
        RGBColor(c(-t), c(-t), 255)
    }
}

/// The plots of one variable: `<var>_error_level<NN>.png` (the error of
/// the first frame on each level), `<var>_spectra.png`, `<var>_error_hist.png`.
pub struct Plot<'a> {
    pub name: &'a str,
    pub field: &'a Field,
    pub recon: &'a [f32],
    pub lat: &'a [f64],
    pub lon: &'a [f64],
    pub levels: Option<&'a [f64]>,
    pub fidelity: &'a Fidelity,
}

pub fn write(dir: &Path, p: &Plot<'_>) -> Result<Vec<PathBuf>> {
    font_ready()?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let base = safe(p.name);
    let mut out = Vec::new();
    let s = p.field.shape;
    let plane = s.lat.checked_mul(s.lon).context("grid size overflows")?;
    if s.frames > 0 && plane > 0 {
        for l in 0..s.levels {
            let path = dir.join(format!("{base}_error_level{l:02}.png"));
            error_map(&path, p, l, plane)?;
            out.push(path);
        }
    }
    if let Some(sp) = &p.fidelity.spectra {
        let path = dir.join(format!("{base}_spectra.png"));
        spectra(&path, p.name, &sp.ratio_per_k)?;
        out.push(path);
    }
    let path = dir.join(format!("{base}_error_hist.png"));
    histogram(&path, p)?;
    out.push(path);
    Ok(out)
}

/// Cell edges around coordinate `i` of `c` (half-way to the neighbours).
fn edges(c: &[f64], i: usize) -> (f64, f64) {
    let step = |a: usize, b: usize| (c[b] - c[a]) / 2.0;
    let lo = if i > 0 {
        step(i - 1, i)
    } else if c.len() > 1 {
        step(0, 1)
    } else {
        0.5
    };
    let hi = if i + 1 < c.len() { step(i, i + 1) } else { lo };
    (c[i] - lo, c[i] + hi)
}

fn error_map(path: &Path, p: &Plot<'_>, level: usize, plane: usize) -> Result<()> {
    let s = p.field.shape;
    let base = level * plane; // frame 0
    let err = |i: usize| {
        let i = base + i;
        (!p.field.is_missing(i)).then(|| p.recon[i] as f64 - p.field.source_value(i).0)
    };
    let m = (0..plane).filter_map(err).map(f64::abs).fold(0.0, f64::max);
    let scale = if m > 0.0 && m.is_finite() { m } else { 1.0 };
    let (x0, x1) = bounds(p.lon);
    let (y0, y1) = bounds(p.lat);
    let coord = p
        .levels
        .and_then(|c| c.get(level))
        .map_or(String::new(), |c| format!(" ({c})"));
    png(path, |area| {
        area.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{} error, level {level}{coord}, frame 0: red +{m:.3e}, blue -{m:.3e}",
                    p.name
                ),
                font(20.0),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("longitude")
            .y_desc("latitude")
            .label_style(font(14.0))
            .draw()
            .map_err(draw_err)?;
        let cells = (0..s.lat).flat_map(|r| (0..s.lon).map(move |j| (r, j)));
        chart
            .draw_series(cells.map(|(r, j)| {
                let (ya, yb) = edges(p.lat, r);
                let (xa, xb) = edges(p.lon, j);
                let color = match err(r * s.lon + j) {
                    Some(e) => diverging(e / scale),
                    None => RGBColor(160, 160, 160),
                };
                Rectangle::new([(xa, ya), (xb, yb)], color.filled())
            }))
            .map_err(draw_err)?;
        Ok(())
    })
}

/// (min, max) of the cell edges of a coordinate, never empty.
fn bounds(c: &[f64]) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for i in 0..c.len() {
        let (a, b) = edges(c, i);
        lo = lo.min(a.min(b));
        hi = hi.max(a.max(b));
    }
    if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (0.0, 1.0)
    }
}

fn spectra(path: &Path, name: &str, ratio: &[Option<f64>]) -> Result<()> {
    let pts: Vec<(f64, f64)> = ratio
        .iter()
        .enumerate()
        .skip(1)
        .filter_map(|(k, r)| r.filter(|&r| r > 0.0).map(|r| (k as f64, r)))
        .collect();
    let kmax = (ratio.len().max(3) - 1) as f64;
    let (mut lo, mut hi) = (1.0f64, 1.0f64);
    for &(_, r) in &pts {
        lo = lo.min(r);
        hi = hi.max(r);
    }
    let (lo, hi) = (lo / 1.2, hi * 1.2);
    png(path, |area| {
        area.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("{name}: zonal power spectra, decoded / original"),
                font(20.0),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d((1.0..kmax).log_scale(), (lo..hi).log_scale())
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("zonal wavenumber k")
            .y_desc("power ratio")
            .label_style(font(14.0))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(1.0, 1.0), (kmax, 1.0)],
                BLACK.stroke_width(1),
            )))
            .map_err(draw_err)?;
        chart
            .draw_series(std::iter::once(PathElement::new(
                pts.clone(),
                RED.stroke_width(2),
            )))
            .map_err(draw_err)?;
        chart
            .draw_series(pts.iter().map(|&q| Circle::new(q, 3, RED.filled())))
            .map_err(draw_err)?;
        Ok(())
    })
}

fn histogram(path: &Path, p: &Plot<'_>) -> Result<()> {
    const BINS: usize = 81;
    let errs: Vec<f64> = (0..p.recon.len())
        .filter(|&i| !p.field.is_missing(i))
        .map(|i| p.recon[i] as f64 - p.field.source_value(i).0)
        .filter(|e| e.is_finite())
        .collect();
    let m = errs.iter().map(|e| e.abs()).fold(0.0, f64::max);
    let m = if m > 0.0 { m } else { 1.0 };
    let width = 2.0 * m / BINS as f64;
    let mut counts = [0u64; BINS];
    for e in &errs {
        let b = ((e + m) / width).floor();
        let b = if b.is_finite() {
            (b.max(0.0) as usize).min(BINS - 1)
        } else {
            0
        };
        counts[b] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1) as f64;
    let f = p.fidelity;
    let rmse = if errs.is_empty() {
        0.0
    } else {
        (errs.iter().map(|e| e * e).sum::<f64>() / errs.len() as f64).sqrt()
    };
    png(path, |area| {
        area.fill(&WHITE).map_err(draw_err)?;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "{}: error histogram ({} values, bias {:.3e}, RMSE {rmse:.3e})",
                    p.name,
                    errs.len(),
                    f.bias.unwrap_or(0.0)
                ),
                font(20.0),
            )
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(-m..m, 0.0..top * 1.05)
            .map_err(draw_err)?;
        chart
            .configure_mesh()
            .x_desc("error (reconstruction - original)")
            .y_desc("count")
            .label_style(font(14.0))
            .draw()
            .map_err(draw_err)?;
        chart
            .draw_series(counts.iter().enumerate().map(|(b, &c)| {
                let x = -m + b as f64 * width;
                Rectangle::new([(x, 0.0), (x + width, c as f64)], BLUE.mix(0.7).filled())
            }))
            .map_err(draw_err)?;
        Ok(())
    })
}
