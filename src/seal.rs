//! Encryption at rest: each spool value sealed with XChaCha20-Poly1305.
//!
//! A roadside box can be stolen; its spool holds reads (personal data) and
//! images. With a key, every value is stored as
//!
//! ```text
//! MAGIC u8 (0xA7) | nonce [24] | ciphertext + tag [16]
//! ```
//!
//! The nonce is random per record (XChaCha's 192-bit nonce makes random
//! nonces safe at any volume a spool sees). The record's spool key is the
//! associated data, so a sealed value moved to another key does not open (one
//! copied from another spool sealed with the same key opens only under the
//! same record key). A clear frame starts with its version byte (1 or 2),
//! never [`MAGIC`], so a spool can hold both while a site moves to
//! encryption. That also means clear records are read even with a key set:
//! sealing keeps a stolen disk's reads secret; it does not stop someone who
//! can write to the running box's spool from adding records.
//!
//! The key (32 bytes) comes from a systemd credential
//! (`$CREDENTIALS_DIRECTORY/<name>`, which systemd may have decrypted with
//! the TPM: `LoadCredentialEncrypted=`) or from a key file readable by its
//! owner alone. Either holds the 32 raw bytes, or 64 hex digits and an
//! optional newline (`openssl rand -hex 32`).

use std::borrow::Cow;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::config::SpoolConfig;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;
/// First byte of a sealed value.
pub const MAGIC: u8 = 0xA7;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes sealing adds to a value.
pub const OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;
/// Binds the associated data to this use, so a value sealed for anything
/// else under the same key never opens here.
const DOMAIN: &[u8] = b"anprd-spool-v1";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("spool key {}: cannot read it: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "spool key {}: mode {mode:04o} lets group or others at it; \
         it must be readable by its owner only (chmod 0400)",
        path.display()
    )]
    Mode { path: PathBuf, mode: u32 },
    #[error(
        "spool key {}: owned by uid {uid}; it must belong to root or to anprd's own user",
        path.display()
    )]
    Owner { path: PathBuf, uid: u32 },
    #[error(
        "spool key {}: {len} bytes; a key is exactly {KEY_LEN} bytes, or {} hex digits",
        path.display(),
        KEY_LEN * 2
    )]
    Size { path: PathBuf, len: usize },
    #[error(
        "spool.key_credential {name:?}: $CREDENTIALS_DIRECTORY is not set \
         (the unit needs LoadCredential= or LoadCredentialEncrypted= for it)"
    )]
    NoCredentials { name: String },
    #[error(
        "the record is encrypted and no spool key is configured \
         (set spool.key_file or spool.key_credential)"
    )]
    NoKey,
    #[error("the record does not decrypt: wrong spool key, or it was altered or moved")]
    Open,
    #[error("the sealed record is {0} bytes, shorter than its nonce and tag")]
    Truncated(usize),
}

/// Seals and opens spool values; without a key, values pass in the clear.
/// Cheap to clone.
#[derive(Clone, Default)]
pub struct Sealer {
    cipher: Option<Arc<XChaCha20Poly1305>>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str(if self.is_sealing() {
            "Sealer(key)"
        } else {
            "Sealer(clear)"
        })
    }
}

impl Sealer {
    /// Stores values in the clear; opening a sealed one fails with [`SealError::NoKey`].
    pub fn clear() -> Sealer {
        Sealer { cipher: None }
    }

    pub fn with_key(key: &[u8; KEY_LEN]) -> Sealer {
        Sealer {
            cipher: Some(Arc::new(XChaCha20Poly1305::new(key.into()))),
        }
    }

    /// The key the spool configuration names, or [`Sealer::clear`] if it
    /// names none.
    pub fn from_config(cfg: &SpoolConfig) -> Result<Sealer, SealError> {
        let path = match (&cfg.key_file, &cfg.key_credential) {
            (Some(file), _) => file.clone(),
            (None, Some(name)) => {
                let dir = std::env::var_os("CREDENTIALS_DIRECTORY")
                    .ok_or_else(|| SealError::NoCredentials { name: name.clone() })?;
                Path::new(&dir).join(name)
            }
            (None, None) => return Ok(Sealer::clear()),
        };
        let key = load_key(&path)?;
        Ok(Sealer::with_key(&key))
    }

    /// [`from_config`](Self::from_config) for `anprd run`: a key that cannot
    /// be loaded stops the daemon; no key at all is allowed, with a warning
    /// at every start.
    pub fn for_daemon(cfg: &SpoolConfig) -> anyhow::Result<Sealer> {
        let sealer = Sealer::from_config(cfg)?;
        if !sealer.is_sealing() {
            log::warn!(
                MESSAGE_ID = crate::logging::message_id::NO_SPOOL_KEY;
                "no spool key (spool.key_file or spool.key_credential): \
                 reads are stored on disk UNENCRYPTED"
            );
        }
        Ok(sealer)
    }

    pub fn is_sealing(&self) -> bool {
        self.cipher.is_some()
    }

    /// Bytes [`seal`](Self::seal) adds to a value.
    pub fn overhead(&self) -> usize {
        if self.is_sealing() { OVERHEAD } else { 0 }
    }

    /// The stored form of `value` under spool key `slot`.
    pub fn seal(&self, slot: u64, value: Vec<u8>) -> Vec<u8> {
        let Some(cipher) = &self.cipher else {
            return value;
        };
        let mut nonce = [0u8; NONCE_LEN];
        // No randomness means no safe nonce; the OS source failing is not
        // something a daemon can carry on through.
        getrandom::fill(&mut nonce).expect("the OS random source failed");
        let aad = aad(slot);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &value,
                    aad: &aad,
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length a spool value has");
        let mut out = Vec::with_capacity(OVERHEAD + value.len());
        out.push(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The value stored under `slot`: opened if sealed, as it is if clear.
    pub fn open<'a>(&self, slot: u64, stored: &'a [u8]) -> Result<Cow<'a, [u8]>, SealError> {
        if !is_sealed(stored) {
            return Ok(Cow::Borrowed(stored));
        }
        let cipher = self.cipher.as_ref().ok_or(SealError::NoKey)?;
        if stored.len() < OVERHEAD {
            return Err(SealError::Truncated(stored.len()));
        }
        let (nonce, sealed) = stored[1..].split_at(NONCE_LEN);
        let aad = aad(slot);
        cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: &aad,
                },
            )
            .map(Cow::Owned)
            .map_err(|_| SealError::Open)
    }
}

/// Whether a stored value is sealed (rather than a clear frame).
pub fn is_sealed(stored: &[u8]) -> bool {
    stored.first() == Some(&MAGIC)
}

fn aad(slot: u64) -> [u8; DOMAIN.len() + 8] {
    let mut aad = [0u8; DOMAIN.len() + 8];
    aad[..DOMAIN.len()].copy_from_slice(DOMAIN);
    aad[DOMAIN.len()..].copy_from_slice(&slot.to_be_bytes());
    aad
}

/// Reads a key file, refusing one others can read or that is the wrong size.
pub fn load_key(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
    let read_err = |source| SealError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(SealError::Mode {
            path: path.to_path_buf(),
            mode,
        });
    }
    let euid = nix::unistd::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Err(SealError::Owner {
            path: path.to_path_buf(),
            uid: meta.uid(),
        });
    }
    let mut bytes = Zeroizing::new(Vec::new());
    // Read at most a little more than the longest valid form, so a wrong
    // file (a disk image, say) is refused without being read whole.
    use std::io::Read as _;
    file.take(KEY_LEN as u64 * 2 + 3)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    parse_key(&bytes).ok_or_else(|| SealError::Size {
        path: path.to_path_buf(),
        len: bytes.len(),
    })
}

/// 32 raw bytes, or 64 hex digits with an optional trailing newline.
fn parse_key(bytes: &[u8]) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() == KEY_LEN {
        key.copy_from_slice(bytes);
        return Some(key);
    }
    let text = bytes
        .strip_suffix(b"\r\n")
        .or_else(|| bytes.strip_suffix(b"\n"))
        .unwrap_or(bytes);
    if text.len() != KEY_LEN * 2 {
        return None;
    }
    for (i, pair) in text.chunks(2).enumerate() {
        let hex = std::str::from_utf8(pair).ok()?;
        key[i] = u8::from_str_radix(hex, 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn sealer() -> Sealer {
        Sealer::with_key(&[7u8; KEY_LEN])
    }

    #[test]
    fn a_sealed_value_opens_under_its_own_slot_only() {
        let s = sealer();
        let stored = s.seal(42, b"AB12CDE payload".to_vec());
        assert!(is_sealed(&stored));
        assert_eq!(stored.len(), 15 + OVERHEAD);
        assert!(!stored.windows(7).any(|w| w == b"AB12CDE"));
        assert_eq!(&*s.open(42, &stored).unwrap(), b"AB12CDE payload");
        assert!(matches!(s.open(43, &stored), Err(SealError::Open)));
    }

    #[test]
    fn each_record_gets_a_fresh_nonce() {
        let s = sealer();
        assert_ne!(s.seal(1, b"same".to_vec()), s.seal(1, b"same".to_vec()));
    }

    #[test]
    fn a_wrong_key_an_altered_byte_or_no_key_is_an_error_not_a_panic() {
        let stored = sealer().seal(1, b"read".to_vec());
        let other = Sealer::with_key(&[8u8; KEY_LEN]);
        assert!(matches!(other.open(1, &stored), Err(SealError::Open)));
        let mut altered = stored.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(matches!(sealer().open(1, &altered), Err(SealError::Open)));
        assert!(matches!(
            Sealer::clear().open(1, &stored),
            Err(SealError::NoKey)
        ));
        assert!(matches!(
            sealer().open(1, &stored[..10]),
            Err(SealError::Truncated(10))
        ));
    }

    #[test]
    fn clear_values_pass_through_either_way() {
        let clear = Sealer::clear().seal(1, vec![1, 2, 3]);
        assert_eq!(clear, vec![1, 2, 3]);
        assert_eq!(&*sealer().open(1, &clear).unwrap(), &[1, 2, 3]);
    }

    #[test]
    fn key_files_are_checked_for_mode_and_size() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8], mode: u32| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p
        };
        let raw = write("raw.key", &[9u8; 32], 0o400);
        assert_eq!(*load_key(&raw).unwrap(), [9u8; 32]);
        let hex = write(
            "hex.key",
            format!("{}\n", "0a".repeat(32)).as_bytes(),
            0o600,
        );
        assert_eq!(*load_key(&hex).unwrap(), [10u8; 32]);

        let open = write("group.key", &[9u8; 32], 0o640);
        let err = load_key(&open).unwrap_err().to_string();
        assert!(err.contains("group.key") && err.contains("0640"), "{err}");
        let short = write("short.key", &[9u8; 16], 0o400);
        let err = load_key(&short).unwrap_err().to_string();
        assert!(
            err.contains("short.key") && err.contains("16 bytes"),
            "{err}"
        );
        let bad_hex = write("bad.key", "zz".repeat(32).as_bytes(), 0o400);
        assert!(matches!(load_key(&bad_hex), Err(SealError::Size { .. })));
        let err = load_key(&dir.path().join("missing.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.key"), "{err}");
    }
}
