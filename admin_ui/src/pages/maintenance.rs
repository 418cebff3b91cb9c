//! Maintenance: the effective configuration (secrets redacted), the migrations applied, and
//! upkeep tasks (WAL checkpoint, VACUUM, ANALYZE, retrying failed media jobs). Live region
//! `maintenance-status` (failed jobs and the last task's result).

use maud::{html, Markup, PreEscaped};

use crate::layout::{action_form, page as shell_page};
use crate::model::{Maintenance, Page, Shell};
use crate::{bytes, region, Region, Rendering};

/// The upkeep tasks: (form value, button text).
const TASKS: [(&str, &str); 4] = [
    ("checkpoint", "WAL checkpoint"),
    ("vacuum", "VACUUM"),
    ("analyze", "ANALYZE"),
    ("retry_jobs", "Retry failed media jobs"),
];

pub fn regions(m: &Maintenance, csrf: &str, rendering: Rendering) -> Vec<Region> {
    let status = html! {
        p { "Database: " strong { (m.backend) } " · failed media jobs: " strong { (m.failed_jobs) } }
        @if let Some(result) = &m.last_result { p.muted { "Last task: " (result) } }
    };
    let backups = html! {
        table {
            thead { tr {
                th { "Backup" } th { "Made" } th.num { "Files" } th.num { "Blobs" }
                th.num { "Blob bytes" } th.num { "Took" }
            } }
            tbody {
                @if m.backups.is_empty() { tr { td colspan="6" .muted { "No backups in " (m.backup_dir) " yet." } } }
                @for b in &m.backups { tr {
                    td { (b.name) } td { (b.created) } td.num { (bytes(b.file_bytes)) }
                    td.num { (b.blobs) } td.num { (bytes(b.blob_bytes)) } td.num { (format!("{:.1} s", b.seconds)) }
                } }
            }
        }
    };
    let bans = html! {
        table {
            thead { tr { th { "Address" } th { "Until" } th.num { "Offences" } th { "Why" } th { "By" } th {} } }
            tbody {
                @if m.bans.is_empty() { tr { td colspan="6" .muted { "No address is banned." } } }
                @for ban in &m.bans { tr #(format!("ban-{}", ban.address.replace([':', '.'], "-"))) {
                    td { (ban.address) } td { (ban.until) } td.num { (ban.offences) }
                    td { (ban.reason) } td { (ban.issued_by) }
                    td { (action_form(&format!("/admin/bans/{}/lift", ban.address), csrf, "inline", html! {
                        button type="submit" { "Lift" }
                    })) }
                } }
            }
        }
    };
    vec![
        Region::new(
            "maintenance-status",
            region("div", "maintenance-status", "", rendering, status),
        ),
        Region::new(
            "maintenance-backups",
            region("div", "maintenance-backups", "", rendering, backups),
        ),
        Region::new(
            "maintenance-bans",
            region("div", "maintenance-bans", "", rendering, bans),
        ),
    ]
}

pub fn page(shell: &Shell, m: &Maintenance) -> Markup {
    let r = regions(m, &shell.csrf_token, Rendering::Page);
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
            h2 { "Backups" }
            (action_form("/admin/backups", &shell.csrf_token, "inline", html! {
                button #backup-now type="submit" { "Back up now (and verify)" }
            }))
            (PreEscaped(&r[1].html))
            h2 { "Bans" }
            (action_form("/admin/bans", &shell.csrf_token, "inline", html! {
                input type="text" name="address" placeholder="address" required aria-label="Address to ban";
                input type="number" name="minutes" min="1" placeholder="minutes" aria-label="Minutes";
                input type="text" name="reason" placeholder="reason" aria-label="Reason";
                button.danger type="submit" { "Ban" }
            }))
            (PreEscaped(&r[2].html))
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
