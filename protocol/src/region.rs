//! Roots the oracle checks when an answer is submitted: regions of the memory tree (the
//! request input inside the image, the output inside the final memory), built on the machine's
//! one Merkle implementation (`veritrace_machine::hash`). Mirrors `solidity/src/lib/Merkle.sol`.
//! (The step-boundary hash is `veritrace_machine::Program::boundary_hash`.)

use veritrace_machine::hash::leaves_root;

use crate::Hash;

/// Why a region root cannot be computed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegionError {
    /// The data does not fit the region.
    #[error("{len} bytes do not fit a region of {capacity} bytes")]
    TooLarge {
        /// Bytes given.
        len: usize,
        /// Region size.
        capacity: usize,
    },
    /// Regions hold at least one 32-byte leaf.
    #[error("a region of 2^{0} bytes is smaller than one 32-byte leaf")]
    TooSmall(u8),
}

/// Root of a `2^region_log2`-byte region holding `data` at its start and zeros after it.
pub fn region_root(data: &[u8], region_log2: u8) -> Result<Hash, RegionError> {
    if region_log2 < 5 {
        return Err(RegionError::TooSmall(region_log2));
    }
    let capacity = 1usize << region_log2;
    if data.len() > capacity {
        return Err(RegionError::TooLarge {
            len: data.len(),
            capacity,
        });
    }
    let leaves = data
        .chunks(32)
        .map(|chunk| {
            let mut leaf = [0u8; 32];
            leaf[..chunk.len()].copy_from_slice(chunk);
            leaf
        })
        .collect();
    Ok(leaves_root(leaves, usize::from(region_log2 - 5)))
}

/// Root of the whole memory from the root of the region at `offset` (size `2^region_log2`) and
/// the bottom-up siblings of that region's subtree.
pub fn root_from_region(
    subtree_root: &Hash,
    offset: u64,
    region_log2: u8,
    siblings: &[Hash],
) -> Hash {
    veritrace_machine::hash::root_from_path(subtree_root, offset >> region_log2, siblings)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use veritrace_machine::hash::{node, zero_hashes};

    /// Reference: the whole region materialised and hashed level by level.
    fn region_root_by_materialising(data: &[u8], region_log2: u8) -> Hash {
        let mut bytes = data.to_vec();
        bytes.resize(1 << region_log2, 0);
        let mut level: Vec<Hash> = bytes
            .chunks(32)
            .map(|c| <[u8; 32]>::try_from(c).unwrap())
            .collect();
        while level.len() > 1 {
            level = level.chunks(2).map(|p| node(&p[0], &p[1])).collect();
        }
        level[0]
    }

    proptest! {
        #[test]
        fn sparse_region_root_equals_the_materialised_one(
            data in proptest::collection::vec(any::<u8>(), 0..700),
            extra in 0u8..4,
        ) {
            let region_log2 = 10 + extra; // 1 KiB .. 8 KiB
            prop_assume!(data.len() <= 1 << region_log2);
            prop_assert_eq!(
                region_root(&data, region_log2).unwrap(),
                region_root_by_materialising(&data, region_log2)
            );
        }
    }

    #[test]
    fn bad_regions_are_errors() {
        assert_eq!(
            region_root(&[0; 33], 5),
            Err(RegionError::TooLarge {
                len: 33,
                capacity: 32
            })
        );
        assert_eq!(region_root(&[], 4), Err(RegionError::TooSmall(4)));
        assert_eq!(region_root(&[], 7).unwrap(), zero_hashes(2)[2]);
    }
}
