//! `taina ban list|add|remove`.

use super::BanCommand;
use crate::contexts::monitoring::MonitoringService;

pub async fn run(monitoring: &MonitoringService, command: BanCommand) -> anyhow::Result<()> {
    // Offences of earlier bans decide the length of a new one.
    monitoring.load_bans().await?;
    match command {
        BanCommand::List => {
            let bans = monitoring.bans().await?;
            println!(
                "{:<39}  {:<25}  {:>8}  {:<21}  reason",
                "address", "banned until", "offences", "issued by"
            );
            for ban in bans {
                println!(
                    "{:<39}  {:<25}  {:>8}  {:<21}  {}",
                    ban.address,
                    ban.banned_until.format("%Y-%m-%d %H:%M:%S UTC"),
                    ban.offences,
                    ban.issued_by,
                    ban.reason
                );
            }
        }
        BanCommand::Add {
            address,
            minutes,
            reason,
        } => {
            let ban = monitoring
                .ban_address(&address, minutes, reason.as_deref(), "operator")
                .await?;
            println!(
                "{} banned until {} (offence {})",
                ban.address,
                ban.banned_until.to_rfc3339(),
                ban.offences
            );
        }
        BanCommand::Remove { address } => {
            monitoring.unban(&address, "operator").await?;
            println!("ban on {} lifted", address.trim());
        }
    }
    Ok(())
}
