//! The overview: live figures of the whole server, each in a card with a stable id
//! (`kpi-<key>`), and sparklines of the last minutes (`spark-<key>`).

use maud::{html, Markup};

use crate::layout::page as shell_page;
use crate::model::{Overview, Page, Shell};
use crate::sparkline::sparkline;
use crate::{bytes, duration, region, Region, Rendering};

/// One figure: a label, the value, a line of detail.
struct Kpi {
    key: &'static str,
    label: &'static str,
    value: String,
    detail: String,
}

fn kpis(o: &Overview) -> Vec<Kpi> {
    let by_mode = o
        .sockets_by_mode
        .iter()
        .map(|(mode, n)| format!("{mode} {n}"))
        .collect::<Vec<_>>()
        .join(" · ");
    let kpi = |key, label, value: String, detail: String| Kpi {
        key,
        label,
        value,
        detail,
    };
    vec![
        kpi(
            "sockets",
            "Sockets open",
            o.sockets_total().to_string(),
            by_mode,
        ),
        kpi(
            "users",
            "Users online",
            o.users_online.to_string(),
            String::new(),
        ),
        kpi(
            "messages",
            "Messages / s",
            format!("{:.1}", o.messages_per_second),
            format!("{:.1} deliveries / s", o.deliveries_per_second),
        ),
        kpi(
            "outbox",
            "Outbox queued",
            bytes(o.outbox_bytes),
            "waiting to be written to sockets".into(),
        ),
        kpi(
            "closes",
            "Forced closes",
            (o.slow_consumer_closes + o.rate_limit_closes).to_string(),
            format!(
                "{} slow consumers · {} rate-limited",
                o.slow_consumer_closes, o.rate_limit_closes
            ),
        ),
        kpi(
            "memory",
            "Resident memory",
            bytes(o.resident_bytes),
            format!("CPU {:.1} %", o.cpu_percent),
        ),
        kpi(
            "files",
            "Open descriptors",
            o.open_files.to_string(),
            format!("of {}", o.open_files_limit),
        ),
        kpi(
            "database",
            "Database",
            bytes(o.database_bytes),
            format!("WAL {}", bytes(o.wal_bytes)),
        ),
        kpi(
            "disk",
            "Disk free",
            bytes(o.disk_free_bytes),
            format!("of {} under the data directory", bytes(o.disk_total_bytes)),
        ),
        kpi(
            "jobs",
            "Media jobs",
            o.jobs_queued.to_string(),
            format!("queued · {} failed", o.jobs_failed),
        ),
        kpi(
            "uptime",
            "Uptime",
            duration(o.uptime_seconds),
            format!("version {}", o.version),
        ),
    ]
}

/// Every live region of the overview: the cards, then the sparklines.
pub fn regions(o: &Overview, rendering: Rendering) -> Vec<Region> {
    let mut regions: Vec<Region> = kpis(o)
        .into_iter()
        .map(|k| {
            let id = format!("kpi-{}", k.key);
            let body = html! {
                div.label { (k.label) }
                div.value { (k.value) }
                div.detail { (k.detail) }
            };
            Region::new(id.clone(), region("div", &id, "card", rendering, body))
        })
        .collect();
    regions.extend(o.history.iter().map(|series| {
        let id = format!("spark-{}", series.key);
        let body = html! {
            div.label { (series.label) " · last minutes" }
            (sparkline(&series.label, &series.points))
        };
        Region::new(id.clone(), region("div", &id, "card", rendering, body))
    }));
    regions
}

pub fn page(shell: &Shell, o: &Overview) -> Markup {
    let regions = regions(o, Rendering::Page);
    let (cards, sparks) = regions.split_at(regions.len() - o.history.len());
    shell_page(
        shell,
        Page::Overview,
        html! {
            section.grid #kpis { @for r in cards { (maud::PreEscaped(&r.html)) } }
            h2 { "Last minutes" }
            section.grid #sparks { @for r in sparks { (maud::PreEscaped(&r.html)) } }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Series;

    fn sample() -> Overview {
        Overview {
            version: "0.1.0".into(),
            uptime_seconds: 3_725,
            sockets_by_mode: vec![("phoenix".into(), 3), ("graphql".into(), 2)],
            users_online: 4,
            messages_per_second: 12.25,
            resident_bytes: 50 * 1024 * 1024,
            history: vec![Series {
                key: "sockets".into(),
                label: "Sockets".into(),
                points: vec![1.0, 5.0],
            }],
            ..Overview::default()
        }
    }

    #[test]
    fn each_figure_has_a_stable_id_and_pushes_out_of_band() {
        let pushed = regions(&sample(), Rendering::Push);
        let sockets = pushed.iter().find(|r| r.id == "kpi-sockets").unwrap();
        assert!(
            sockets
                .html
                .starts_with(r#"<div id="kpi-sockets" class="card" hx-swap-oob="true">"#),
            "{}",
            sockets.html
        );
        assert!(sockets.html.contains(r#"<div class="value">5</div>"#));
        assert!(sockets.html.contains("phoenix 3 · graphql 2"));
        assert!(pushed
            .iter()
            .any(|r| r.id == "spark-sockets" && r.html.contains("<polyline")));
        let ids: Vec<_> = pushed.iter().map(|r| r.id.clone()).collect();
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(ids.len(), unique.len(), "ids are unique: {ids:?}");
    }

    #[test]
    fn the_page_holds_the_same_regions_without_the_marker() {
        let html = page(&Shell::default(), &sample()).into_string();
        assert!(
            html.contains(r#"<div id="kpi-users" class="card">"#),
            "{html}"
        );
        assert!(!html.contains("hx-swap-oob"), "{html}");
        assert!(html.contains(r#"hx-ws:connect="/admin/live?page=overview""#));
        assert!(html.contains("12.2") || html.contains("12.3"));
        assert!(html.contains("1h 2m"));
    }
}
