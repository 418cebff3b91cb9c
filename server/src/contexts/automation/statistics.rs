//! Long-term statistics of numeric sensors, computed from their stored states, in the
//! semantics Home Assistant users know:
//!
//! - a `measurement` (temperature, power) gets per period the **time-weighted mean**, the
//!   **min** and the **max** of the values in effect (a value holds until the next one;
//!   time spent unavailable counts for nothing);
//! - a meter (`total`, `total_increasing`: energy, gas, water) gets the last value (`state`)
//!   and a running **sum** of its increases since it was first seen. For `total_increasing` a
//!   drop of more than 10 % (`value < 0.9 × previous`) is a meter reset: the new cycle counts
//!   from zero, so its first value is added in full. A smaller dip lowers the sum. For `total`
//!   increases and decreases both count (a net meter).
//!
//! 5-minute rows come from the states; hourly rows from the 5-minute rows. The service
//! compiles them as periods end ([`super::service`]) and the retention removes the raw states
//! and 5-minute rows after `automation.keep_days`, while hourly rows stay.

use chrono::{DateTime, Duration, DurationRound, Utc};

/// How a sensor's values add up (its `state_class`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Meter {
    Measurement,
    Total,
    TotalIncreasing,
}

impl Meter {
    pub fn of_state_class(state_class: &str) -> Option<Self> {
        match state_class {
            "measurement" => Some(Meter::Measurement),
            "total" => Some(Meter::Total),
            "total_increasing" => Some(Meter::TotalIncreasing),
            _ => None,
        }
    }
}

/// A statistics period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Period {
    FiveMinutes,
    Hour,
}

impl Period {
    pub fn as_str(self) -> &'static str {
        match self {
            Period::FiveMinutes => "5m",
            Period::Hour => "1h",
        }
    }

    pub fn length(self) -> Duration {
        match self {
            Period::FiveMinutes => Duration::minutes(5),
            Period::Hour => Duration::hours(1),
        }
    }

    /// The start of the period `at` falls in.
    pub fn floor(self, at: DateTime<Utc>) -> DateTime<Utc> {
        at.duration_trunc(self.length()).unwrap_or(at)
    }
}

/// One stored state, as a number (`None`: unavailable or not numeric).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub value: Option<f64>,
}

/// A state's text as a sensor value.
pub fn value_of(state: Option<&str>) -> Option<f64> {
    state
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

/// One period's statistics.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Row {
    pub start: DateTime<Utc>,
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// A meter's last value.
    pub state: Option<f64>,
    /// A meter's running sum.
    pub sum: Option<f64>,
}

/// What one compilation hands the next: the value in effect, and a meter's reading and sum.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Carry {
    /// The value in effect at the start of the next period.
    pub value: Option<f64>,
    /// The meter's last reading counted into `sum` (`None`: the next one is the zero point).
    pub reading: Option<f64>,
    pub sum: f64,
}

impl Carry {
    /// Counts a new meter reading into the sum.
    fn count(&mut self, meter: Meter, value: f64) {
        match (meter, self.reading) {
            (_, None) => {}
            (Meter::TotalIncreasing, Some(previous)) if value < 0.9 * previous => {
                // A reset: the new cycle started from zero.
                self.sum += value;
            }
            (_, Some(previous)) => self.sum += value - previous,
        }
        self.reading = Some(value);
    }
}

/// Compiles `count` consecutive 5-minute periods from `start` out of `samples` (oldest first,
/// all inside those periods), carrying on from `carry`. Periods with no value in effect give
/// no row.
pub fn compile(
    meter: Meter,
    start: DateTime<Utc>,
    count: u32,
    samples: &[Sample],
    carry: &mut Carry,
) -> Vec<Row> {
    let length = Period::FiveMinutes.length();
    let mut rows = Vec::new();
    let mut pending = samples.iter().peekable();
    for index in 0..count {
        let begin = start + length * index as i32;
        let end = begin + length;
        let mut row = Row {
            start: begin,
            ..Row::default()
        };
        let (mut weighted, mut known) = (0.0_f64, 0_i64);
        let mut since = begin;
        let extremes = |value: f64, row: &mut Row| {
            row.min = Some(row.min.map_or(value, |m| m.min(value)));
            row.max = Some(row.max.map_or(value, |m| m.max(value)));
        };
        if let Some(value) = carry.value {
            extremes(value, &mut row);
        }
        while let Some(sample) = pending.next_if(|s| s.at < end) {
            if let Some(value) = carry.value {
                let held = (sample.at - since).num_milliseconds();
                weighted += value * held as f64;
                known += held;
            }
            since = sample.at.max(begin);
            carry.value = sample.value;
            if let Some(value) = sample.value {
                extremes(value, &mut row);
                if meter != Meter::Measurement {
                    carry.count(meter, value);
                }
            }
        }
        if let Some(value) = carry.value {
            let held = (end - since).num_milliseconds();
            weighted += value * held as f64;
            known += held;
        }
        match meter {
            Meter::Measurement => {
                if known == 0 && row.min.is_none() {
                    continue;
                }
                row.mean = (known > 0).then(|| weighted / known as f64);
            }
            Meter::Total | Meter::TotalIncreasing => {
                let Some(reading) = carry.reading else {
                    continue;
                };
                row = Row {
                    start: begin,
                    state: Some(reading),
                    sum: Some(carry.sum),
                    ..Row::default()
                };
            }
        }
        rows.push(row);
    }
    rows
}

/// One hour (or any longer period) out of its shorter rows, oldest first: the mean of their
/// means, the extremes, and the last reading and sum.
pub fn roll_up(start: DateTime<Utc>, rows: &[Row]) -> Option<Row> {
    let last = rows.last()?;
    let means: Vec<f64> = rows.iter().filter_map(|r| r.mean).collect();
    Some(Row {
        start,
        mean: (!means.is_empty()).then(|| means.iter().sum::<f64>() / means.len() as f64),
        min: rows.iter().filter_map(|r| r.min).reduce(f64::min),
        max: rows.iter().filter_map(|r| r.max).reduce(f64::max),
        state: last.state,
        sum: last.sum,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64, second: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 6, 10, 0, 0).unwrap()
            + Duration::minutes(minute)
            + Duration::seconds(second)
    }

    fn sample(minute: i64, second: i64, value: f64) -> Sample {
        Sample {
            at: at(minute, second),
            value: Some(value),
        }
    }

    #[test]
    fn a_measurement_is_time_weighted_and_carried_into_quiet_periods() {
        let mut carry = Carry::default();
        // 20 °C from 10:01, 26 °C from 10:04: 3 minutes of 20 and 1 of 26 in the first period.
        let samples = [sample(1, 0, 20.0), sample(4, 0, 26.0)];
        let rows = compile(Meter::Measurement, at(0, 0), 3, &samples, &mut carry);
        assert_eq!(rows.len(), 3, "{rows:?}");
        // Nothing was in effect before 10:01: the mean is over the 4 minutes known.
        assert_eq!(rows[0].mean, Some((20.0 * 3.0 + 26.0) / 4.0));
        assert_eq!((rows[0].min, rows[0].max), (Some(20.0), Some(26.0)));
        // 10:05–10:15 hold 26 throughout.
        assert_eq!(rows[2].start, at(10, 0));
        assert_eq!(rows[2].mean, Some(26.0));
        assert_eq!((rows[2].min, rows[2].max), (Some(26.0), Some(26.0)));
        assert_eq!(carry.value, Some(26.0));
        // Unavailable for half a period counts for nothing.
        let samples = [
            Sample {
                at: at(15, 0),
                value: None,
            },
            sample(17, 30, 30.0),
        ];
        let rows = compile(Meter::Measurement, at(15, 0), 1, &samples, &mut carry);
        assert_eq!(rows[0].mean, Some(30.0));
        assert_eq!((rows[0].min, rows[0].max), (Some(26.0), Some(30.0)));
    }

    #[test]
    fn a_total_increasing_meter_sums_increases_and_survives_resets() {
        let mut carry = Carry::default();
        let samples = [
            sample(0, 10, 100.0), // the zero point
            sample(1, 0, 101.5),
            sample(2, 0, 101.4), // a dip of less than 10 %: lowers the sum
            sample(6, 0, 0.5),   // a reset: counts from zero
            sample(7, 0, 2.0),
        ];
        let rows = compile(Meter::TotalIncreasing, at(0, 0), 2, &samples, &mut carry);
        assert_eq!(rows[0].state, Some(101.4));
        assert!((rows[0].sum.unwrap() - 1.4).abs() < 1e-9);
        assert_eq!(rows[1].state, Some(2.0));
        assert!((rows[1].sum.unwrap() - (1.4 + 0.5 + 1.5)).abs() < 1e-9);
        // A net meter (`total`) counts the drop as a decrease instead.
        let mut net = Carry::default();
        let rows = compile(Meter::Total, at(0, 0), 2, &samples, &mut net);
        assert!((rows[1].sum.unwrap() - (2.0 - 100.0)).abs() < 1e-9);
    }

    #[test]
    fn an_hour_rolls_up_its_five_minute_rows() {
        let rows: Vec<Row> = (0..12)
            .map(|i| Row {
                start: at(i * 5, 0),
                mean: Some(i as f64),
                min: Some(i as f64 - 1.0),
                max: Some(i as f64 + 1.0),
                state: Some(i as f64 * 10.0),
                sum: Some(i as f64),
            })
            .collect();
        let hour = roll_up(at(0, 0), &rows).unwrap();
        assert_eq!(hour.mean, Some(5.5));
        assert_eq!((hour.min, hour.max), (Some(-1.0), Some(12.0)));
        assert_eq!((hour.state, hour.sum), (Some(110.0), Some(11.0)));
        assert_eq!(roll_up(at(0, 0), &[]), None);
        assert_eq!(Period::Hour.floor(at(37, 12)), at(0, 0));
        assert_eq!(Period::FiveMinutes.floor(at(37, 12)), at(35, 0));
        assert_eq!(value_of(Some(" 21.5 ")), Some(21.5));
        assert_eq!(value_of(Some("unavailable")), None);
    }
}
