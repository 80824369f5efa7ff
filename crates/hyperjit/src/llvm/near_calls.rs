//! Direct calls to the host's functions.
//!
//! The compiler emits a call to an external function as `call rel32` with an
//! `R_X86_64_PLT32` relocation, and RuntimeDyld, not knowing where the callee
//! will be, points it at a stub that jumps through a GOT slot. For a callee
//! the engine knows lies within a rel32's reach of all JIT'd code
//! (`near_memory.c`), the relocation is rewritten to `R_X86_64_PC32`, which
//! RuntimeDyld resolves to the callee itself: the guest's call of a host
//! callback is then the same instruction as a native direct call.

use object::elf;
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, LittleEndian};
use std::mem::size_of;

/// The file offsets of the `r_info` fields of the `R_X86_64_PLT32`
/// relocations in ELF object `bytes` whose (undefined) symbol `is_near`.
/// Empty for anything but an x86-64 ELF relocatable object.
fn near_call_relocations(bytes: &[u8], is_near: &dyn Fn(&[u8]) -> bool) -> Vec<usize> {
    let mut found = Vec::new();
    let Ok(header) = elf::FileHeader64::<Endianness>::parse(bytes) else {
        return found;
    };
    let Ok(endian) = header.endian() else {
        return found;
    };
    if header.e_machine(endian) != elf::EM_X86_64 || endian != Endianness::Little {
        return found;
    }
    let Ok(sections) = header.sections(endian, bytes) else {
        return found;
    };
    // Whether each symbol is a near callee, decided once per symbol: an
    // image has thousands of relocation sections calling the same few.
    let mut near_symbols: Option<(object::SectionIndex, Vec<Option<bool>>)> = None;
    for section in sections.iter() {
        let Ok(Some((relocations, symbols_index))) = section.rela(endian, bytes) else {
            continue;
        };
        let Ok(symbols) = sections.symbol_table_by_index(endian, bytes, symbols_index) else {
            continue;
        };
        if near_symbols
            .as_ref()
            .is_none_or(|(index, _)| *index != symbols_index)
        {
            near_symbols = Some((symbols_index, vec![None; symbols.len()]));
        }
        let Some((_, verdicts)) = near_symbols.as_mut() else {
            continue;
        };
        let first = section.sh_offset(endian) as usize;
        for (index, relocation) in relocations.iter().enumerate() {
            if relocation.r_type(endian, false) != elf::R_X86_64_PLT32 {
                continue;
            }
            let symbol_index = relocation.r_sym(endian, false) as usize;
            let Some(verdict) = verdicts.get_mut(symbol_index) else {
                continue;
            };
            let near = *verdict.get_or_insert_with(|| {
                symbols
                    .symbol(object::SymbolIndex(symbol_index))
                    .is_ok_and(|symbol| {
                        symbol.st_shndx.get(endian) == elf::SHN_UNDEF
                            && symbols.symbol_name(endian, symbol).is_ok_and(is_near)
                    })
            });
            if near {
                found.push(first + index * size_of::<elf::Rela64<LittleEndian>>() + 8);
            }
        }
    }
    found
}

/// `bytes` with the calls of near callees made direct (see the module
/// docs), or `None` if there are none.
pub(super) fn bind_near_calls(bytes: &[u8], is_near: &dyn Fn(&[u8]) -> bool) -> Option<Vec<u8>> {
    let offsets = near_call_relocations(bytes, is_near);
    if offsets.is_empty() {
        return None;
    }
    let mut patched = bytes.to_vec();
    for offset in offsets {
        let info = &mut patched[offset..offset + 8];
        let symbol = u64::from_le_bytes(info.try_into().ok()?) >> 32;
        info.copy_from_slice(&(symbol << 32 | u64::from(elf::R_X86_64_PC32)).to_le_bytes());
    }
    Some(patched)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_an_x86_64_object_is_left_alone() {
        let everything_is_near = |_: &[u8]| true;
        assert_eq!(bind_near_calls(b"", &everything_is_near), None);
        assert_eq!(
            bind_near_calls(b"\x7fELF garbage", &everything_is_near),
            None
        );
        assert_eq!(bind_near_calls(&[0u8; 256], &everything_is_near), None);
    }
}
