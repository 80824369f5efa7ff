//! Program images: the warm start. For a first batch compiled whole
//! (eagerly, at the engine's level), the object cache keeps, beside its
//! object, everything the linker recorded of it — the object's key, its
//! kept IR, functions, symbols, constructor tables and the symbols it takes
//! from outside — under a key
//! of its inputs' bytes and the engine's settings (`Key::image`). A later
//! engine given the same inputs finds the key before parsing them and
//! loads the image instead: no parsing, linking, preparing or code
//! generation, which are nearly all of a cached run's time.
//!
//! Only code that depends on nothing of the run that built it is stored:
//! not a batch bound to host callbacks (their thunks hold the host's
//! addresses), nor one that counts calls for tiering. A loaded image is
//! refused, and its inputs parsed after all, when the host now registers a
//! callback under a name the image references: linked afresh, the name
//! would bind to it.

use super::batch::BatchRecord;
use super::linked::TableNames;
use super::{resolve, EngineGlue, Linker};
use crate::callback::Registry;
use crate::compile::Key;
use crate::error::{Error, Result};
use crate::llvm::{Bitcode, FunctionSignature, KeptIr, ObjectCode, TypeKind, UndefinedSymbol};

/// A first batch as stored: its object and the linker's record of it.
pub(crate) struct Image {
    /// The key of the batch's object in the cache.
    pub(super) object: Key,
    pub(super) kept: Vec<u8>,
    pub(super) ir_level: Option<u8>,
    /// Functions (and aliases of functions), each with its body's name if
    /// it has a body of its own.
    pub(super) functions: Vec<(String, FunctionSignature, Option<String>)>,
    /// Every externally visible symbol the batch defines.
    pub(super) symbols: Vec<String>,
    /// The constructor and destructor tables' names and lengths.
    pub(super) tables: TableNames,
    /// What the inputs referenced without defining.
    pub(super) imports: Vec<UndefinedSymbol>,
}

impl Image {
    /// The image's bytes, as the cache stores them.
    pub(super) fn encode(&self) -> Vec<u8> {
        let mut out = Writer(Vec::with_capacity(self.kept.len() + 4096));
        out.bytes(&self.object.to_bytes());
        out.bytes(&self.kept);
        out.level(self.ir_level);
        out.count(self.functions.len());
        for (name, signature, body) in &self.functions {
            out.str(name);
            out.signature(signature);
            out.bool(body.is_some());
            if let Some(body) = body {
                out.str(body);
            }
        }
        out.strings(&self.symbols);
        for (name, len) in [&self.tables.0, &self.tables.1] {
            out.str(name);
            out.count(*len);
        }
        out.count(self.imports.len());
        for import in &self.imports {
            out.str(&import.name);
            out.bool(import.weak);
        }
        out.0
    }

    /// An image from the cache's bytes; `None` if they do not decode (the
    /// cache checked their integrity, so only another format would fail).
    pub(crate) fn decode(bytes: &[u8]) -> Option<Image> {
        let mut input = Reader(bytes);
        let object = Key::from_bytes(input.bytes()?.try_into().ok()?);
        let kept = input.bytes()?.to_vec();
        let ir_level = input.level()?;
        let mut functions = Vec::new();
        for _ in 0..input.count()? {
            let name = input.string()?;
            let signature = input.signature()?;
            let body = if input.bool()? {
                Some(input.string()?)
            } else {
                None
            };
            functions.push((name, signature, body));
        }
        let symbols = input.strings()?;
        let constructors = (input.string()?, input.count()?);
        let destructors = (input.string()?, input.count()?);
        let mut imports = Vec::new();
        for _ in 0..input.count()? {
            let name = input.string()?;
            let weak = input.bool()?;
            imports.push(UndefinedSymbol { name, weak });
        }
        input.0.is_empty().then_some(Image {
            object,
            kept,
            ir_level,
            functions,
            symbols,
            tables: (constructors, destructors),
            imports,
        })
    }
}

impl Linker {
    /// Loads `image` as the first batch, built from `files`. `Ok(None)` if
    /// the image does not fit this engine (see the module docs): the inputs
    /// must then be linked from their IR.
    pub(crate) fn load_image(
        &mut self,
        image: Image,
        callbacks: &Registry,
        glue: &EngineGlue,
        files: &str,
    ) -> Result<Option<super::BatchCode>> {
        let names_a_callback = image
            .imports
            .iter()
            .map(|import| &import.name)
            .chain(&image.symbols)
            .any(|name| callbacks.is_named(name) || self.linked.symbols.contains(name));
        let object = self
            .codegen
            .cache()
            .and_then(|cache| cache.get(&image.object));
        // An allow list checks inline assembly in the IR, which an image
        // has no more.
        let fits =
            self.linked.batches.is_empty() && !names_a_callback && self.policy.searches_process();
        let Some(object) = object.filter(|_| fits) else {
            return Ok(None);
        };
        resolve::check_imports(
            image.imports.iter().map(|import| (import, files)),
            &self.linked,
            callbacks,
            &self.policy,
        )?;
        self.jit
            .define_absolute(&glue.symbols())
            .map_err(Error::llvm("defining the engine's glue symbols"))?;
        let record = BatchRecord {
            object: ObjectCode::from_bytes(&object),
            kept: KeptIr::Bitcode(Bitcode::from_bytes(&image.kept)),
            ir_level: image.ir_level,
            functions: image.functions,
            symbols: image.symbols,
            tables: image.tables,
        };
        let code = self.add_batch(record, files)?;
        Ok(Some(code))
    }
}

/// Whether a batch linked with these properties can be stored as an image.
pub(super) fn can_store(batch: usize, is_lazy: bool, counts: bool, bound_to_host: usize) -> bool {
    batch == 0 && !is_lazy && !counts && bound_to_host == 0
}

struct Writer(Vec<u8>);

impl Writer {
    fn count(&mut self, n: usize) {
        self.0.extend_from_slice(&(n as u64).to_le_bytes());
    }

    fn bytes(&mut self, bytes: &[u8]) {
        self.count(bytes.len());
        self.0.extend_from_slice(bytes);
    }

    fn str(&mut self, text: &str) {
        self.bytes(text.as_bytes());
    }

    fn strings(&mut self, all: &[String]) {
        self.count(all.len());
        for text in all {
            self.str(text);
        }
    }

    fn bool(&mut self, value: bool) {
        self.0.push(u8::from(value));
    }

    fn level(&mut self, level: Option<u8>) {
        self.0.push(level.map_or(u8::MAX, |level| level));
    }

    fn signature(&mut self, signature: &FunctionSignature) {
        self.kind(&signature.ret);
        self.count(signature.params.len());
        for param in &signature.params {
            self.kind(param);
        }
        self.bool(signature.variadic);
    }

    fn kind(&mut self, kind: &TypeKind) {
        match kind {
            TypeKind::Void => self.0.push(0),
            TypeKind::Int(bits) => {
                self.0.push(1);
                self.count(*bits as usize);
            }
            TypeKind::Float => self.0.push(2),
            TypeKind::Double => self.0.push(3),
            TypeKind::Pointer => self.0.push(4),
            TypeKind::Other(text) => {
                self.0.push(5);
                self.str(text);
            }
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (taken, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(taken)
    }

    fn count(&mut self) -> Option<usize> {
        let bytes = self.take(8)?.try_into().ok()?;
        usize::try_from(u64::from_le_bytes(bytes)).ok()
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.count()?;
        self.take(len)
    }

    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }

    fn strings(&mut self) -> Option<Vec<String>> {
        (0..self.count()?).map(|_| self.string()).collect()
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn bool(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn level(&mut self) -> Option<Option<u8>> {
        let level = self.byte()?;
        Some((level != u8::MAX).then_some(level))
    }

    fn signature(&mut self) -> Option<FunctionSignature> {
        let ret = self.kind()?;
        let params = (0..self.count()?)
            .map(|_| self.kind())
            .collect::<Option<Vec<_>>>()?;
        let variadic = self.bool()?;
        Some(FunctionSignature {
            ret,
            params,
            variadic,
        })
    }

    fn kind(&mut self) -> Option<TypeKind> {
        Some(match self.byte()? {
            0 => TypeKind::Void,
            1 => TypeKind::Int(u32::try_from(self.count()?).ok()?),
            2 => TypeKind::Float,
            3 => TypeKind::Double,
            4 => TypeKind::Pointer,
            5 => TypeKind::Other(self.string()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What is encoded decodes the same; a cut or lengthened image does not
    /// decode at all.
    #[test]
    fn images_decode_to_what_was_encoded_and_nothing_else() {
        let signature = FunctionSignature {
            ret: TypeKind::Int(32),
            params: vec![
                TypeKind::Pointer,
                TypeKind::Double,
                TypeKind::Other("{ i8, i64 }".to_string()),
            ],
            variadic: true,
        };
        let image = Image {
            object: Key::from_bytes([7; 32]),
            kept: b"BC\xc0\xde kept".to_vec(),
            ir_level: Some(2),
            functions: vec![
                (
                    "main".to_string(),
                    signature.clone(),
                    Some("main.hj.b0".to_string()),
                ),
                ("alias".to_string(), signature.clone(), None),
            ],
            symbols: vec!["main".to_string(), "alias".to_string(), "table".to_string()],
            tables: (("ctors".to_string(), 2), ("dtors".to_string(), 0)),
            imports: vec![
                UndefinedSymbol {
                    name: "puts".to_string(),
                    weak: false,
                },
                UndefinedSymbol {
                    name: "hook".to_string(),
                    weak: true,
                },
            ],
        };
        let bytes = image.encode();
        let decoded = Image::decode(&bytes).expect("decodes");
        assert_eq!(decoded.encode(), bytes);
        assert_eq!(decoded.functions[0].1, signature);
        assert_eq!(decoded.functions[1].2, None);
        assert_eq!(decoded.ir_level, Some(2));
        assert_eq!(decoded.imports[1].name, "hook");
        assert!(decoded.imports[1].weak);
        assert!(Image::decode(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Image::decode(&longer).is_none());
    }
}
