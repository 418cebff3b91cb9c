//! Password policy and argon2id hashing (19 MiB, t=2, p=1), run on a few dedicated threads.

use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::oneshot;

use super::AuthError;

pub const MIN_CHARS: usize = 8;
pub const MAX_BYTES: usize = 1024;

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("static argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

pub fn check_policy(password: &str) -> Result<(), AuthError> {
    if password.len() > MAX_BYTES {
        return Err(AuthError::PasswordTooLong);
    }
    if password.chars().count() < MIN_CHARS {
        return Err(AuthError::PasswordTooShort);
    }
    Ok(())
}

/// Runs argon2 on `threads` dedicated threads. Each hash works in 19 MiB that the allocator
/// keeps for the thread that freed it: on tokio's blocking pool a burst of sign-ins spread
/// over ever more threads and stayed resident (fifteen sign-ins took a fresh server from 40 to
/// 335 MB); on a fixed set of threads it costs at most `threads` × 19 MiB, once. The bound
/// also keeps the CPU for the sockets.
#[derive(Clone)]
pub struct Hasher {
    jobs: std::sync::mpsc::Sender<Job>,
}

enum Job {
    Hash(String, oneshot::Sender<Result<String, AuthError>>),
    Verify(String, String, oneshot::Sender<bool>),
}

impl Hasher {
    pub fn new(threads: usize) -> std::io::Result<Self> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || loop {
                    // The lock is only held to take the next job; it ends when the last
                    // Hasher is dropped.
                    let job = match queue.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    };
                    match job {
                        Job::Hash(password, reply) => {
                            let _ = reply.send(
                                argon2()
                                    .hash_password(password.as_bytes())
                                    .map(|h| h.to_string())
                                    .map_err(|e| AuthError::Internal(format!("argon2: {e}"))),
                            );
                        }
                        Job::Verify(password, phc, reply) => {
                            let _ = reply.send(
                                argon2()
                                    .verify_password(password.as_bytes(), phc.as_str())
                                    .is_ok(),
                            );
                        }
                    }
                })?;
        }
        Ok(Self { jobs })
    }

    /// Hashes to a PHC string with a fresh salt.
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job::Hash(password, reply))
            .map_err(|_| AuthError::Internal("password hasher stopped".into()))?;
        answer
            .await
            .map_err(|_| AuthError::Internal("password hasher stopped".into()))?
    }

    /// Verifies in constant time for a given hash; a malformed stored hash counts as a
    /// mismatch.
    pub async fn verify(&self, password: String, phc: String) -> bool {
        let (reply, answer) = oneshot::channel();
        if self.jobs.send(Job::Verify(password, phc, reply)).is_err() {
            return false;
        }
        answer.await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_bounds() {
        assert!(matches!(
            check_policy("short"),
            Err(AuthError::PasswordTooShort)
        ));
        assert!(check_policy("eight ch").is_ok());
        assert!(check_policy(&"x".repeat(MAX_BYTES)).is_ok());
        assert!(matches!(
            check_policy(&"x".repeat(MAX_BYTES + 1)),
            Err(AuthError::PasswordTooLong)
        ));
        // Characters, not bytes, count towards the minimum.
        assert!(matches!(
            check_policy("ãããã"),
            Err(AuthError::PasswordTooShort)
        ));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let hasher = Hasher::new(1).unwrap();
        let phc = hasher.hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify("correct horse".into(), phc.clone()).await);
        assert!(!hasher.verify("wrong horse".into(), phc).await);
        assert!(!hasher.verify("x".into(), "not a hash".into()).await);
    }

    #[tokio::test]
    async fn concurrent_requests_share_the_threads() {
        let hasher = Hasher::new(2).unwrap();
        let hashes =
            futures_util::future::join_all((0..5).map(|i| hasher.hash(format!("password {i}"))))
                .await;
        assert!(hashes.iter().all(Result::is_ok));
        assert!(
            hasher
                .verify("password 3".into(), hashes[3].as_ref().unwrap().clone())
                .await
        );
    }
}
