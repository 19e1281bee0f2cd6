//! The text of `hiha compare`'s fitness report (the numbers come from
//! `hiha_core::fidelity`).

use std::fmt::Write as _;

use hiha_core::fidelity::{Fidelity, WindErrors};

/// A value, or `n/a` where the report defines none.
fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or_else(|| "n/a".to_string(), |x| format!("{x:.prec$e}"))
}

fn pct(share: f64) -> String {
    format!("{:.4}%", 100.0 * share)
}

/// The fitness lines of one variable, after the generic metrics.
/// `levels` are the level coordinate's values, when the file has them.
pub fn fidelity_text(f: &Fidelity, levels: Option<&[f64]>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "  bias             {}", opt(f.bias, 4));
    let _ = writeln!(
        s,
        "  R²               {}",
        f.r2.map_or("n/a".into(), |r| format!("{r:.9}"))
    );
    let g = &f.signs;
    let _ = writeln!(
        s,
        "  sign flipped     {} (x·x̂ < 0); to zero {}, from zero {}, new negatives {}",
        pct(g.flipped),
        pct(g.to_zero),
        pct(g.from_zero),
        pct(g.new_negative)
    );
    let a = &f.autocorrelation;
    let r = |v: Option<f64>| v.map_or("n/a".into(), |x| format!("{x:.3}"));
    let _ = writeln!(
        s,
        "  error autocorr.  lon {}, lat {} (lag 1; ≈ 0 for white noise, → 1 for smooth artefacts)",
        r(a.lon),
        r(a.lat)
    );
    match &f.dssim {
        Some(d) => {
            let _ = writeln!(
                s,
                "  DSSIM            {:.4e} ({} slices, {}×{} windows{})",
                d.dssim,
                d.slices,
                d.window[0],
                d.window[1],
                if d.skipped > 0 {
                    format!(", {} constant slices left out", d.skipped)
                } else {
                    String::new()
                }
            );
        }
        None => {
            let _ = writeln!(s, "  DSSIM            n/a (no slice with a range)");
        }
    }
    if let Some(w) = &f.geostrophic_wind {
        let _ = writeln!(
            s,
            "  geostrophic wind error {:.4e} m/s RMS (the wind itself: {:.3} m/s RMS; {} points, |lat| ≥ 10°)",
            w.rmse, w.reference_rms, w.n
        );
    }
    if let Some(e) = &f.spread_ratio {
        let _ = writeln!(
            s,
            "  error ÷ spread   median {:.4e}, 99th percentile {:.4e}, max {:.4e} ({} members{})",
            e.median,
            e.p99,
            e.max,
            e.members,
            if e.zero_spread > 0 {
                format!(", {} values with zero spread left out", e.zero_spread)
            } else {
                String::new()
            }
        );
    }
    match &f.spectra {
        Some(sp) => {
            let _ = writeln!(
                s,
                "  zonal spectra    decoded ÷ original power, per wavenumber band ({} rows{}):",
                sp.rows,
                if sp.skipped_rows > 0 {
                    format!(", {} with missing values left out", sp.skipped_rows)
                } else {
                    String::new()
                }
            );
            let _ = writeln!(s, "    {:>9}  {:>12}  {:>12}", "k", "ratio", "error/orig");
            for b in &sp.bands {
                let k = if b.k_lo == b.k_hi {
                    format!("{}", b.k_lo)
                } else {
                    format!("{}-{}", b.k_lo, b.k_hi)
                };
                let _ = writeln!(
                    s,
                    "    {k:>9}  {:>12}  {:>12}",
                    b.ratio.map_or("n/a".into(), |x| format!("{x:.6}")),
                    opt(b.error_ratio, 3)
                );
            }
        }
        None => {
            let _ = writeln!(
                s,
                "  zonal spectra    n/a (fewer than 2 longitudes or no complete row)"
            );
        }
    }
    if f.levels.len() > 1 || levels.is_some() {
        let _ = writeln!(s, "  per level (each against its own range):");
        let _ = writeln!(
            s,
            "    {:>5}  {:>10}  {:>11}  {:>11}  {:>11}  {:>11}",
            "level", "coord", "NRMSE", "max abs", "median rel", "bias"
        );
        for l in &f.levels {
            let coord = levels
                .and_then(|c| c.get(l.level))
                .map_or(String::new(), |c| format!("{c}"));
            let _ = writeln!(
                s,
                "    {:>5}  {coord:>10}  {:>11}  {:>11.4e}  {:>11}  {:>11}",
                l.level,
                opt(l.nrmse, 4),
                l.max_abs,
                opt(l.median_rel, 4),
                opt(l.bias, 3)
            );
        }
    }
    s
}

/// The lines of the vorticity and divergence errors of a pair u, v.
pub fn wind_text(u: &str, v: &str, w: Option<&WindErrors>) -> String {
    match w {
        Some(w) => format!(
            "winds '{u}', '{v}':\n  vorticity error  {:.4e} 1/s RMS (the vorticity itself: {:.4e} 1/s RMS)\n  divergence error {:.4e} 1/s RMS (the divergence itself: {:.4e} 1/s RMS; {} points)\n",
            w.vorticity.rmse,
            w.vorticity.reference_rms,
            w.divergence.rmse,
            w.divergence.reference_rms,
            w.divergence.n
        ),
        None => format!("winds '{u}', '{v}': no point with a complete stencil\n"),
    }
}
