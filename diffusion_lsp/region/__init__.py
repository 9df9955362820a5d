"""Region selection with tree-sitter: which span of a document to mask, for each intent."""
