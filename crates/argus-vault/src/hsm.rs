//! Keys held in a PKCS#11 token (an HSM, a smart card, SoftHSM).
//!
//! A vault key may live in a token instead of a keystore file: its
//! [`KeyEntry`](crate::KeyEntry) then carries an [`HsmKey`] (the module, the
//! token's label, the key's `CKA_ID` and where the PIN comes from) and no
//! file. The private key is created inside the token (`C_GenerateKeyPair`)
//! or imported once (`C_CreateObject`), always with `CKA_SENSITIVE` true and
//! `CKA_EXTRACTABLE` false, so the token refuses to hand its value out
//! again; Argus only ever asks it to sign.
//!
//! Signing is `CKM_ECDSA` over the 32-byte hash: the token answers `r ‖ s`;
//! `s` is moved to the lower half of the curve order (EIP-2: Ethereum
//! refuses the other one), and the recovery id Ethereum needs (which a
//! PKCS#11 token does not give) is found by recovering the public key with
//! both ids and keeping the one that gives the token's own public key. The
//! address is computed from `CKA_EC_POINT` (a DER OCTET STRING around the
//! uncompressed point, parsed defensively; some tokens give the bare point)
//! and checked against the address the vault recorded, every time the key
//! is opened.
//!
//! One module is loaded and initialised once per process, and one logged-in
//! session is kept per token for the life of the process: PKCS#11 login
//! state is shared by every session of an application with a token, so
//! closing one of several sessions could log the others out.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use alloy_primitives::{Address, B256, Signature, hex};
use alloy_signer::k256::ecdsa::{
    RecoveryId, Signature as EcdsaSignature, SigningKey, VerifyingKey,
};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize as _, Zeroizing};

use crate::error::{Result, VaultError};

/// DER of the secp256k1 curve's OID (1.3.132.0.10): the `CKA_EC_PARAMS`.
pub const SECP256K1_PARAMS: [u8; 7] = [0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x0a];

/// Where a token's user PIN comes from. Never the PIN itself: the vault's
/// metadata holds no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PinSource {
    /// An environment variable of the process that uses the key.
    Env(String),
    /// A secret sealed in the vault under the master key
    /// (`argus keys secret set NAME`).
    Secret(String),
}

impl std::fmt::Display for PinSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env {name}"),
            Self::Secret(name) => write!(f, "vault secret {name}"),
        }
    }
}

/// A token: the PKCS#11 module that drives it, its label, and its PIN's
/// source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HsmToken {
    /// Absolute path of the PKCS#11 module (e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label (`CKA_LABEL` of the token, as `softhsm2-util
    /// --show-slots` prints it). Slots move between restarts; labels do not.
    pub token: String,
    /// Where the user PIN comes from.
    pub pin: PinSource,
}

/// A key in a token: the token and the key's `CKA_ID` (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HsmKey {
    #[serde(flatten)]
    pub token: HsmToken,
    /// The `CKA_ID` shared by the key's private and public objects, in hex.
    pub id: String,
}

/// What the token says about a key's protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyProtection {
    /// `CKA_SENSITIVE` of the private key.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE` of the private key.
    pub extractable: bool,
    /// `CKA_NEVER_EXTRACTABLE`: true for a key generated inside the token
    /// and never made extractable; false for an imported key (its value
    /// existed outside the token once).
    pub never_extractable: bool,
    /// Whether `C_GetAttributeValue(CKA_VALUE)` gave the private value out.
    pub value_readable: bool,
    /// `CKA_SIGN`: false once a rotation disabled the key.
    pub can_sign: bool,
}

impl KeyProtection {
    /// Whether the private key cannot leave the token.
    pub fn is_protected(&self) -> bool {
        self.sensitive && !self.extractable && !self.value_readable
    }
}

type Shared = Arc<Mutex<Session>>;

static MODULES: LazyLock<Mutex<BTreeMap<PathBuf, Pkcs11>>> = LazyLock::new(Default::default);
static SESSIONS: LazyLock<Mutex<BTreeMap<(PathBuf, String), Shared>>> =
    LazyLock::new(Default::default);

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn failed(token: &HsmToken, doing: &str, error: impl std::fmt::Display) -> VaultError {
    VaultError::Hsm {
        module: token.module.clone(),
        token: token.token.clone(),
        reason: format!("{doing}: {error}"),
    }
}

/// The module at `path`, loaded and initialised once per process.
fn module(token: &HsmToken) -> Result<Pkcs11> {
    let path = &token.module;
    if !path.is_absolute() {
        return Err(failed(
            token,
            "refusing the module",
            "give the PKCS#11 module's absolute path (a relative one would load whatever the \
             working directory holds)",
        ));
    }
    let mut modules = locked(&MODULES);
    if let Some(loaded) = modules.get(path) {
        return Ok(loaded.clone());
    }
    if !path.is_file() {
        return Err(failed(
            token,
            "loading the module",
            "no such file (on Debian, `apt-get install softhsm2` puts SoftHSM's at \
             /usr/lib/softhsm/libsofthsm2.so)",
        ));
    }
    let pkcs11 = Pkcs11::new(path).map_err(|e| failed(token, "loading the module", e))?;
    match pkcs11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => return Err(failed(token, "C_Initialize", e)),
    }
    modules.insert(path.clone(), pkcs11.clone());
    Ok(pkcs11)
}

/// The process's logged-in session with `token`.
fn session(token: &HsmToken, pin: &str) -> Result<Shared> {
    let key = (token.module.clone(), token.token.clone());
    if let Some(shared) = locked(&SESSIONS).get(&key) {
        return Ok(shared.clone());
    }
    let pkcs11 = module(token)?;
    let slots = pkcs11
        .get_slots_with_initialized_token()
        .map_err(|e| failed(token, "C_GetSlotList", e))?;
    let mut found = None;
    for slot in slots {
        let info = pkcs11
            .get_token_info(slot)
            .map_err(|e| failed(token, "C_GetTokenInfo", e))?;
        if info.label().trim_end() == token.token {
            if found.is_some() {
                return Err(failed(
                    token,
                    "finding the token",
                    "two tokens carry this label; relabel one",
                ));
            }
            found = Some(slot);
        }
    }
    let slot = found.ok_or_else(|| {
        failed(
            token,
            "finding the token",
            "no initialised token has this label (`softhsm2-util --show-slots` lists them)",
        )
    })?;
    let session = pkcs11
        .open_rw_session(slot)
        .map_err(|e| failed(token, "C_OpenSession", e))?;
    let pin = AuthPin::from(pin.to_owned());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(e) => return Err(failed(token, "C_Login", e)),
    }
    let shared = Arc::new(Mutex::new(session));
    locked(&SESSIONS).insert(key, shared.clone());
    Ok(shared)
}

fn new_id() -> Result<Vec<u8>> {
    let mut id = vec![0u8; 16];
    crate::keystore::random(&mut id)?;
    Ok(id)
}

/// Generates a secp256k1 key pair inside the token, its private half
/// sensitive and never extractable; answers the key and its address.
pub(crate) fn generate(token: &HsmToken, pin: &str, label: &str) -> Result<(HsmKey, Address)> {
    let shared = session(token, pin)?;
    let session = locked(&shared);
    let id = new_id()?;
    let public = [
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::EcParams(SECP256K1_PARAMS.to_vec()),
        Attribute::Id(id.clone()),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let private = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Id(id.clone()),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let (public_handle, _) = session
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .map_err(|e| {
            failed(
                token,
                "C_GenerateKeyPair (secp256k1; does this token support the curve?)",
                e,
            )
        })?;
    let verifying = read_public(token, &session, public_handle)?;
    let key = HsmKey {
        token: token.clone(),
        id: hex::encode(&id),
    };
    Ok((key, Address::from_public_key(&verifying)))
}

/// Puts an existing private key into the token (sensitive, not
/// extractable) with its public half beside it.
pub(crate) fn import(
    token: &HsmToken,
    pin: &str,
    label: &str,
    secret: &SigningKey,
) -> Result<(HsmKey, Address)> {
    let shared = session(token, pin)?;
    let session = locked(&shared);
    let id = new_id()?;
    let verifying = *secret.verifying_key();
    let point = verifying.to_encoded_point(false);
    let mut ec_point = vec![0x04, u8::try_from(point.len()).unwrap_or(65)];
    ec_point.extend_from_slice(point.as_bytes());
    let mut private = vec![
        Attribute::Class(ObjectClass::PRIVATE_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(SECP256K1_PARAMS.to_vec()),
        Attribute::Value(secret.to_bytes().to_vec()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Id(id.clone()),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    let created = session.create_object(&private);
    for attribute in &mut private {
        if let Attribute::Value(value) = attribute {
            value.zeroize();
        }
    }
    let private_handle = created.map_err(|e| failed(token, "C_CreateObject (private key)", e))?;
    let public = [
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::EcParams(SECP256K1_PARAMS.to_vec()),
        Attribute::EcPoint(ec_point),
        Attribute::Token(true),
        Attribute::Private(false),
        Attribute::Verify(true),
        Attribute::Id(id.clone()),
        Attribute::Label(label.as_bytes().to_vec()),
    ];
    if let Err(e) = session.create_object(&public) {
        let _ = session.destroy_object(private_handle);
        return Err(failed(token, "C_CreateObject (public key)", e));
    }
    let key = HsmKey {
        token: token.clone(),
        id: hex::encode(&id),
    };
    Ok((key, Address::from_public_key(&verifying)))
}

fn id_bytes(key: &HsmKey) -> Result<Vec<u8>> {
    hex::decode(&key.id).map_err(|_| failed(&key.token, "reading the key's id", "not hex"))
}

/// The one object of `class` with the key's id.
fn find(session: &Session, key: &HsmKey, class: ObjectClass) -> Result<ObjectHandle> {
    let template = [Attribute::Class(class), Attribute::Id(id_bytes(key)?)];
    let found = session
        .find_objects(&template)
        .map_err(|e| failed(&key.token, "C_FindObjects", e))?;
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(failed(
            &key.token,
            &format!("finding {class} {}", key.id),
            "the token has no such object (deleted, or another token?)",
        )),
        _ => Err(failed(
            &key.token,
            &format!("finding {class} {}", key.id),
            "several objects share this id",
        )),
    }
}

fn read_public(token: &HsmToken, session: &Session, handle: ObjectHandle) -> Result<VerifyingKey> {
    let attributes = session
        .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| failed(token, "C_GetAttributeValue (CKA_EC_POINT)", e))?;
    let mut params = None;
    let mut point = None;
    for attribute in attributes {
        match attribute {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    if params.as_deref() != Some(&SECP256K1_PARAMS[..]) {
        return Err(failed(
            token,
            "reading the public key",
            "the key is not on secp256k1 (CKA_EC_PARAMS)",
        ));
    }
    let point = point.ok_or_else(|| failed(token, "reading the public key", "no CKA_EC_POINT"))?;
    parse_ec_point(&point).map_err(|reason| failed(token, "reading CKA_EC_POINT", reason))
}

/// The public key in a `CKA_EC_POINT`: a DER OCTET STRING around the
/// uncompressed SEC1 point (what PKCS#11 specifies), or the bare point
/// (what some tokens give).
pub fn parse_ec_point(bytes: &[u8]) -> std::result::Result<VerifyingKey, String> {
    let point = match bytes {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        [0x04, ..] if bytes.len() == 65 => bytes,
        _ => {
            return Err(format!(
                "expected a DER OCTET STRING of a 65-byte uncompressed point, got {} bytes",
                bytes.len()
            ));
        }
    };
    if point.first() != Some(&0x04) {
        return Err("the point is not uncompressed".to_owned());
    }
    VerifyingKey::from_sec1_bytes(point).map_err(|_| "not a point on secp256k1".to_owned())
}

/// A key in a token, opened for signing: one logged-in session shared by
/// the process, the private key's handle, and its public key.
#[derive(Clone)]
pub struct HsmSigner {
    session: Shared,
    handle: ObjectHandle,
    public: VerifyingKey,
    address: Address,
    key: HsmKey,
    /// The EIP-155 chain id alloy's `Signer` callers may set.
    chain_id: Option<alloy_primitives::ChainId>,
}

impl std::fmt::Debug for HsmSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmSigner")
            .field("address", &self.address)
            .field("token", &self.key.token.token)
            .field("id", &self.key.id)
            .finish_non_exhaustive()
    }
}

impl HsmSigner {
    /// Opens `key` with `pin`, refusing it unless its public key gives
    /// `expected` (a token swapped, or an id reused).
    pub(crate) fn open(key: &HsmKey, pin: &str, expected: Address) -> Result<Self> {
        let shared = session(&key.token, pin)?;
        let (handle, public) = {
            let session = locked(&shared);
            let handle = find(&session, key, ObjectClass::PRIVATE_KEY)?;
            let public_handle = find(&session, key, ObjectClass::PUBLIC_KEY)?;
            (handle, read_public(&key.token, &session, public_handle)?)
        };
        let address = Address::from_public_key(&public);
        if address != expected {
            return Err(failed(
                &key.token,
                &format!("opening key {}", key.id),
                format!("its public key gives {address}, the vault recorded {expected}"),
            ));
        }
        Ok(Self {
            session: shared,
            handle,
            public,
            address,
            key: key.clone(),
            chain_id: None,
        })
    }

    /// The EIP-155 chain id set with [`HsmSigner::set_chain_id`].
    pub fn chain_id(&self) -> Option<alloy_primitives::ChainId> {
        self.chain_id
    }

    /// Sets the EIP-155 chain id (alloy's `Signer::set_chain_id`).
    pub fn set_chain_id(&mut self, chain_id: Option<alloy_primitives::ChainId>) {
        self.chain_id = chain_id;
    }

    /// The key's address.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Where the key lives.
    pub fn key(&self) -> &HsmKey {
        &self.key
    }

    /// The uncompressed SEC1 public key (65 bytes).
    pub fn public_key(&self) -> Vec<u8> {
        self.public.to_encoded_point(false).as_bytes().to_vec()
    }

    /// Signs a 32-byte hash in the token: `CKM_ECDSA`, then low-s and the
    /// recovery id (see the module docs).
    pub fn sign_hash(&self, hash: &B256) -> Result<Signature> {
        let raw = locked(&self.session)
            .sign(&Mechanism::Ecdsa, self.handle, hash.as_slice())
            .map_err(|e| failed(&self.key.token, "C_Sign (CKM_ECDSA)", e))?;
        to_ethereum(&raw, hash, &self.public)
            .map_err(|reason| failed(&self.key.token, "reading the token's signature", reason))
    }

    /// What the token says about the private key's protection; asks for
    /// `CKA_VALUE` too, which a sensitive key must refuse.
    pub fn protection(&self) -> Result<KeyProtection> {
        let session = locked(&self.session);
        let attributes = session
            .get_attributes(
                self.handle,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::NeverExtractable,
                    AttributeType::Sign,
                    AttributeType::Value,
                ],
            )
            .map_err(|e| failed(&self.key.token, "C_GetAttributeValue", e))?;
        let mut protection = KeyProtection {
            sensitive: false,
            extractable: true,
            never_extractable: false,
            value_readable: false,
            can_sign: false,
        };
        for attribute in attributes {
            match attribute {
                Attribute::Sensitive(v) => protection.sensitive = v,
                Attribute::Extractable(v) => protection.extractable = v,
                Attribute::NeverExtractable(v) => protection.never_extractable = v,
                Attribute::Sign(v) => protection.can_sign = v,
                Attribute::Value(mut v) => {
                    protection.value_readable = !v.is_empty();
                    v.zeroize();
                }
                _ => {}
            }
        }
        Ok(protection)
    }

    /// Sets `CKA_SIGN` false: the token refuses to sign with the key from
    /// now on (a rotation's "disable").
    pub(crate) fn disable(&self) -> Result<()> {
        locked(&self.session)
            .update_attributes(self.handle, &[Attribute::Sign(false)])
            .map_err(|e| failed(&self.key.token, "C_SetAttributeValue (CKA_SIGN false)", e))
    }

    /// Destroys the private and public objects.
    pub(crate) fn destroy(self) -> Result<()> {
        let session = locked(&self.session);
        let public = find(&session, &self.key, ObjectClass::PUBLIC_KEY);
        session
            .destroy_object(self.handle)
            .map_err(|e| failed(&self.key.token, "C_DestroyObject (private key)", e))?;
        if let Ok(public) = public {
            session
                .destroy_object(public)
                .map_err(|e| failed(&self.key.token, "C_DestroyObject (public key)", e))?;
        }
        Ok(())
    }
}

/// `r ‖ s` from `CKM_ECDSA` → an Ethereum signature: low-s, and the parity
/// that recovers `public`.
pub fn to_ethereum(
    raw: &[u8],
    hash: &B256,
    public: &VerifyingKey,
) -> std::result::Result<Signature, String> {
    if raw.len() != 64 {
        return Err(format!("expected 64 bytes (r ‖ s), got {}", raw.len()));
    }
    let signature =
        EcdsaSignature::from_slice(raw).map_err(|_| "r or s is zero or too large".to_owned())?;
    let signature = signature.normalize_s().unwrap_or(signature);
    for parity in [false, true] {
        let id = RecoveryId::new(parity, false);
        if let Ok(recovered) = VerifyingKey::recover_from_prehash(hash.as_slice(), &signature, id)
            && recovered == *public
        {
            return Ok(Signature::from_signature_and_parity(signature, parity));
        }
    }
    Err("neither recovery id gives the key's public key (not this key's signature)".to_owned())
}

/// The PIN of `token` from the environment (an [`PinSource::Env`]); a
/// sealed secret is the vault's to open.
pub(crate) fn pin_from_env(token: &HsmToken, name: &str) -> Result<Zeroizing<String>> {
    match std::env::var(name) {
        Ok(pin) if !pin.is_empty() => Ok(Zeroizing::new(pin)),
        _ => Err(failed(
            token,
            "reading the PIN",
            format!("set {name} to the token's user PIN"),
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use alloy_primitives::{U256, keccak256};
    use alloy_signer::k256::elliptic_curve::scalar::IsHigh as _;

    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_slice(&keccak256(b"argus hsm test key")[..]).unwrap()
    }

    #[test]
    fn ec_point_der_and_bare_parse_and_garbage_is_refused() {
        let public = *key().verifying_key();
        let point = public.to_encoded_point(false).as_bytes().to_vec();
        let mut der = vec![0x04, 0x41];
        der.extend_from_slice(&point);
        assert_eq!(parse_ec_point(&der).unwrap(), public);
        assert_eq!(parse_ec_point(&point).unwrap(), public);
        // Compressed, truncated, a wrong length byte, empty, off the curve.
        let compressed = public.to_encoded_point(true).as_bytes().to_vec();
        assert!(parse_ec_point(&compressed).is_err());
        assert!(parse_ec_point(&der[..66]).is_err());
        let mut wrong_len = der.clone();
        wrong_len[1] = 0x40;
        assert!(parse_ec_point(&wrong_len).is_err());
        assert!(parse_ec_point(&[]).is_err());
        let mut off_curve = der;
        off_curve[66] ^= 1;
        assert!(parse_ec_point(&off_curve).is_err());
    }

    #[test]
    fn a_high_s_signature_becomes_low_s_with_the_parity_that_recovers_the_key() {
        let key = key();
        let public = *key.verifying_key();
        let address = Address::from_public_key(&public);
        for i in 0u8..16 {
            let hash = keccak256([i]);
            let (signature, _) = key.sign_prehash_recoverable(hash.as_slice()).unwrap();
            // What a token may answer: either s.
            let (r, s) = signature.split_scalars();
            let high = EcdsaSignature::from_scalars(r, -*s).unwrap();
            for raw in [signature.to_bytes(), high.to_bytes()] {
                let ethereum = to_ethereum(&raw, &hash, &public).unwrap();
                assert!(
                    ethereum.s()
                        <= U256::from_be_slice(
                            &hex::decode(
                                "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0"
                            )
                            .unwrap()
                        )
                );
                assert_eq!(
                    ethereum.recover_address_from_prehash(&hash).unwrap(),
                    address
                );
            }
            assert!(bool::from(high.s().is_high()) || bool::from(signature.s().is_high()));
        }
    }

    #[test]
    fn a_relative_or_missing_module_is_refused_before_anything_is_loaded() {
        let token = |module: &str| HsmToken {
            module: PathBuf::from(module),
            token: "t".to_owned(),
            pin: PinSource::Env("ARGUS_TEST_UNSET_PIN".to_owned()),
        };
        let relative = module(&token("libsofthsm2.so")).unwrap_err().to_string();
        assert!(relative.contains("absolute path"), "{relative}");
        let missing = module(&token("/nonexistent/libpkcs11.so"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("no such file"), "{missing}");
        assert!(missing.contains("/nonexistent/libpkcs11.so"), "{missing}");
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libfake.so");
        std::fs::write(&fake, b"not an ELF file").unwrap();
        let not_a_module = module(&token(fake.to_str().unwrap()))
            .unwrap_err()
            .to_string();
        assert!(
            not_a_module.contains("loading the module"),
            "{not_a_module}"
        );
    }

    proptest::proptest! {
        /// What a token answers is outside input: any bytes are parsed or
        /// refused, never a panic.
        #[test]
        fn any_token_answer_is_parsed_or_refused(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..80)) {
            let public = *key().verifying_key();
            let _ = parse_ec_point(&bytes);
            let _ = to_ethereum(&bytes, &keccak256(&bytes), &public);
        }
    }

    #[test]
    fn another_keys_signature_or_a_malformed_answer_is_refused() {
        let hash = keccak256(b"m");
        let other = SigningKey::from_slice(&keccak256(b"other")[..]).unwrap();
        let (signature, _) = other.sign_prehash_recoverable(hash.as_slice()).unwrap();
        let public = *key().verifying_key();
        assert!(to_ethereum(&signature.to_bytes(), &hash, &public).is_err());
        assert!(to_ethereum(&[0u8; 64], &hash, &public).is_err());
        assert!(to_ethereum(&signature.to_bytes()[..63], &hash, &public).is_err());
        let mut der_like = vec![0x30, 0x44];
        der_like.extend_from_slice(&signature.to_bytes());
        assert!(to_ethereum(&der_like, &hash, &public).is_err());
    }
}
