//! Maintenance: the effective configuration (secrets redacted), the migrations applied, and
//! upkeep tasks (WAL checkpoint, VACUUM, ANALYZE, retrying failed media jobs). Live region
//! `maintenance-status` (failed jobs and the last task's result).

use maud::{html, Markup, PreEscaped};

use crate::layout::{action_form, page as shell_page};
use crate::model::{Maintenance, Page, Shell};
use crate::{region, Region, Rendering};

/// The upkeep tasks: (form value, button text).
const TASKS: [(&str, &str); 4] = [
    ("checkpoint", "WAL checkpoint"),
    ("vacuum", "VACUUM"),
    ("analyze", "ANALYZE"),
    ("retry_jobs", "Retry failed media jobs"),
];

pub fn regions(m: &Maintenance, rendering: Rendering) -> Vec<Region> {
    let status = html! {
        p { "Database: " strong { (m.backend) } " · failed media jobs: " strong { (m.failed_jobs) } }
        @if let Some(result) = &m.last_result { p.muted { "Last task: " (result) } }
    };
    vec![Region::new(
        "maintenance-status",
        region("div", "maintenance-status", "", rendering, status),
    )]
}

pub fn page(shell: &Shell, m: &Maintenance) -> Markup {
    let r = regions(m, Rendering::Page);
    shell_page(
        shell,
        Page::Maintenance,
        html! {
            (PreEscaped(&r[0].html))
            h2 { "Upkeep" }
            @for (task, label) in TASKS {
                (action_form("/admin/maintenance", &shell.csrf_token, "inline", html! {
                    input type="hidden" name="task" value=(task);
                    button type="submit" { (label) }
                }))
                " "
            }
            h2 { "Migrations" }
            table {
                thead { tr { th.num { "Version" } th { "Description" } th { "Applied" } } }
                tbody { @for mig in &m.migrations { tr {
                    td.num { (mig.version) } td { (mig.description) } td { (mig.installed_on) }
                } } }
            }
            h2 { "Configuration" }
            pre #config { (m.config_toml) }
        },
    )
}
