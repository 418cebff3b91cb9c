//! When clock triggers fire next: a time of day and cron expressions in the community's time
//! zone (`chrono-tz`, so daylight saving time moves them with the clock), sunrise and sunset at
//! its location (`sunrise`).

use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::Cron;
use sunrise::{Coordinates, SolarDay, SolarEvent};

use super::definition::{SunEvent, Trigger};

/// Where the community's home is and what its clocks say.
#[derive(Clone, Debug, PartialEq)]
pub struct Place {
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    /// Metres above sea level (the sun rises a little earlier up high).
    pub elevation: f64,
    pub time_zone: Tz,
}

impl Default for Place {
    fn default() -> Self {
        Place {
            latitude: None,
            longitude: None,
            elevation: 0.0,
            time_zone: Tz::UTC,
        }
    }
}

/// A user's five-field cron expression (minute hour day month weekday; `0`/`7` are Sunday).
pub fn parse_cron(expression: &str) -> Result<Cron, String> {
    if expression.split_whitespace().count() != 5 {
        return Err(format!(
            "cron {expression:?}: five fields (minute hour day month weekday)"
        ));
    }
    Cron::from_str(expression).map_err(|e| format!("cron {expression:?}: {e}"))
}

/// A time zone by its IANA name (`America/Sao_Paulo`).
pub fn parse_time_zone(name: &str) -> Result<Tz, String> {
    name.parse::<Tz>()
        .map_err(|_| format!("{name:?} is not an IANA time zone (like America/Sao_Paulo)"))
}

/// The first time after `now` a clock trigger fires; `None` for other triggers, or when it
/// cannot fire (the sun without a location, a polar night).
pub fn next_fire(trigger: &Trigger, place: &Place, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let local = now.with_timezone(&place.time_zone);
    match trigger {
        Trigger::Time { at } => next_time_of_day(*at, place, now),
        Trigger::Cron { cron } => parse_cron(cron)
            .ok()?
            .find_next_occurrence(&local, false)
            .ok()
            .map(|at| at.with_timezone(&Utc)),
        Trigger::Sun {
            event,
            offset_minutes,
        } => {
            let coordinates = Coordinates::new(place.latitude?, place.longitude?)?;
            let today = local.date_naive();
            // Today's, tomorrow's, … the first still ahead (a polar day skips some).
            (0..3).find_map(|days| {
                let day = SolarDay::new(coordinates, today + Duration::days(days))
                    .with_altitude(place.elevation);
                let at = day.event_time(match event {
                    SunEvent::Sunrise => SolarEvent::Sunrise,
                    SunEvent::Sunset => SolarEvent::Sunset,
                })? + Duration::minutes(*offset_minutes);
                (at > now).then_some(at)
            })
        }
        _ => None,
    }
}

fn next_time_of_day(at: NaiveTime, place: &Place, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let today = now.with_timezone(&place.time_zone).date_naive();
    (0..3).find_map(|days| {
        let day = today + Duration::days(days);
        // In a spring-forward gap the time does not exist that day: it fires at the gap's end.
        let local = place
            .time_zone
            .from_local_datetime(&day.and_time(at))
            .earliest()
            .or_else(|| {
                place
                    .time_zone
                    .from_local_datetime(&(day.and_time(at) + Duration::hours(1)))
                    .earliest()
            })?;
        let at = local.with_timezone(&Utc);
        (at > now).then_some(at)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn clock_triggers_follow_the_community_clock_and_the_sun() {
        let berlin = Place {
            latitude: Some(52.52),
            longitude: Some(13.405),
            elevation: 34.0,
            time_zone: parse_time_zone("Europe/Berlin").unwrap(),
        };
        let at = |h, m| Trigger::Time {
            at: NaiveTime::from_hms_opt(h, m, 0).unwrap(),
        };
        // 22:00 in Berlin in winter is 21:00 UTC; once past, tomorrow's.
        assert_eq!(
            next_fire(&at(22, 0), &berlin, utc("2026-12-06T15:00:00Z")),
            Some(utc("2026-12-06T21:00:00Z"))
        );
        assert_eq!(
            next_fire(&at(22, 0), &berlin, utc("2026-12-06T21:00:00Z")),
            Some(utc("2026-12-07T21:00:00Z"))
        );
        // 02:30 does not exist on the night clocks go forward: the gap's end instead.
        assert_eq!(
            next_fire(&at(2, 30), &berlin, utc("2027-03-27T12:00:00Z")),
            Some(utc("2027-03-28T01:30:00Z"))
        );
        let weekdays = Trigger::Cron {
            cron: "0 7 * * 1-5".into(),
        };
        // Saturday afternoon → Monday 07:00 local.
        assert_eq!(
            next_fire(&weekdays, &berlin, utc("2026-12-05T15:00:00Z")),
            Some(utc("2026-12-07T06:00:00Z"))
        );
        let sunset = Trigger::Sun {
            event: SunEvent::Sunset,
            offset_minutes: -30,
        };
        let fires = next_fire(&sunset, &berlin, utc("2026-12-06T10:00:00Z")).unwrap();
        // Berlin's December sunset is about 15:50 local (14:50 UTC).
        assert!(
            fires > utc("2026-12-06T14:00:00Z") && fires < utc("2026-12-06T14:40:00Z"),
            "{fires}"
        );
        assert_eq!(
            next_fire(&sunset, &Place::default(), utc("2026-12-06T10:00:00Z")),
            None
        );
        assert!(parse_cron("* * * *").is_err());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_time_zone("Mars/Olympus").is_err());
    }
}
