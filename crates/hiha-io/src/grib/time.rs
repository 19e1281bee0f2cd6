//! Reference times and forecast steps: calendar dates to seconds since
//! 1970-01-01 (proleptic Gregorian, UTC) and the time units of GRIB.

use super::error::{corrupt, unsupported, GribResult};

/// Days from 1970-01-01 to the given date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since 1970-01-01T00:00:00 of a date and time, checking that
/// each field is in range.
pub fn epoch_seconds(y: i64, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> GribResult<i64> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if month_days == 0 || d == 0 || d > month_days || h > 24 || mi > 59 || s > 59 {
        return Err(corrupt(format!(
            "the date {y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} is not valid"
        )));
    }
    let days = days_from_civil(y, i64::from(mo), i64::from(d));
    Ok(days * 86_400 + i64::from(h) * 3600 + i64::from(mi) * 60 + i64::from(s))
}

/// The length in seconds of a GRIB2 time unit (code table 4.4); months,
/// years and longer have no fixed length.
pub fn grib2_unit_seconds(unit: u8) -> GribResult<i64> {
    Ok(match unit {
        0 => 60,
        1 => 3600,
        2 => 86_400,
        10 => 3 * 3600,
        11 => 6 * 3600,
        12 => 12 * 3600,
        13 => 1,
        3..=7 => {
            return Err(unsupported(format!(
                "a forecast time in months, years or longer (time unit {unit}, code table 4.4)"
            )))
        }
        u => return Err(corrupt(format!("unknown time unit {u} (code table 4.4)"))),
    })
}

/// The length in seconds of a GRIB1 time unit (code table 4).
pub fn grib1_unit_seconds(unit: u8) -> GribResult<i64> {
    Ok(match unit {
        0 => 60,
        1 => 3600,
        2 => 86_400,
        10 => 3 * 3600,
        11 => 6 * 3600,
        12 => 12 * 3600,
        13 => 15 * 60,
        14 => 30 * 60,
        254 => 1,
        3..=7 => {
            return Err(unsupported(format!(
                "a forecast time in months, years or longer (time unit {unit}, GRIB1 code table 4)"
            )))
        }
        u => {
            return Err(corrupt(format!(
                "unknown time unit {u} (GRIB1 code table 4)"
            )))
        }
    })
}

/// `count` units of `unit_seconds`, checked.
pub fn span(count: i64, unit_seconds: i64) -> GribResult<i64> {
    count
        .checked_mul(unit_seconds)
        .ok_or_else(|| corrupt("a forecast time overflows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(epoch_seconds(1970, 1, 1, 0, 0, 0).ok(), Some(0));
        assert_eq!(
            epoch_seconds(2017, 1, 1, 12, 0, 0).ok(),
            Some(1_483_272_000)
        );
        assert_eq!(epoch_seconds(2000, 2, 29, 0, 0, 0).ok(), Some(951_782_400));
        assert!(epoch_seconds(2001, 2, 29, 0, 0, 0).is_err());
        assert!(epoch_seconds(2001, 13, 1, 0, 0, 0).is_err());
    }
}
