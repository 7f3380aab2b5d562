//! Merkle roots over entry hashes.
//!
//! Leaves are the entry hashes themselves (already domain-separated from
//! nodes); a node is `H(0x01 · left · right)`; an odd node at the end of a
//! level is carried up unchanged, so no leaf is ever duplicated (the
//! duplication trick lets two different lists share a root).

use sha2::{Digest, Sha256};

use crate::format::{DOMAIN_NODE, Hash};

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut buf = [0u8; 65];
    buf[0] = DOMAIN_NODE;
    buf[1..33].copy_from_slice(left);
    buf[33..].copy_from_slice(right);
    Sha256::digest(buf).into()
}

/// The Merkle root of `leaves` (zeros for none).
pub fn merkle_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => [0; 32],
        1 => leaves[0],
        _ => {
            let mut level: Vec<Hash> = leaves.chunks(2).map(pair).collect();
            while level.len() > 1 {
                let next: Vec<Hash> = level.chunks(2).map(pair).collect();
                level = next;
            }
            level.first().copied().unwrap_or([0; 32])
        }
    }
}

fn pair(chunk: &[Hash]) -> Hash {
    match chunk {
        [left, right] => node(left, right),
        [single] => *single,
        _ => [0; 32],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_membership_change_the_root() {
        let leaves: Vec<Hash> = (0u8..5).map(|i| [i; 32]).collect();
        let root = merkle_root(&leaves);
        let mut swapped = leaves.clone();
        swapped.swap(1, 2);
        assert_ne!(root, merkle_root(&swapped));
        assert_ne!(root, merkle_root(&leaves[..4]));
        let mut dup = leaves.clone();
        dup.push(leaves[4]);
        assert_ne!(root, merkle_root(&dup));
        assert_eq!(merkle_root(&leaves[..1]), leaves[0]);
    }
}
