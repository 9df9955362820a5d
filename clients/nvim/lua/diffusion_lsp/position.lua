--- Positions: byte columns (Neovim) <-> LSP characters in the client's offset encoding, on 0.7 and 0.11+.
local M = {}

local has_011 = vim.fn.has('nvim-0.11') == 1

--- Line `row` (0-based) of `bufnr`, '' past the end.
function M.get_line(bufnr, row)
  return vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ''
end

--- Byte column -> LSP character in `encoding` ('utf-8', 'utf-16' or 'utf-32').
function M.to_lsp_char(line, byte_col, encoding)
  byte_col = math.min(byte_col, #line)
  if encoding == 'utf-8' then
    return byte_col
  end
  local prefix = line:sub(1, byte_col)
  if has_011 then
    return vim.str_utfindex(prefix, encoding)
  end
  local utf32, utf16 = vim.str_utfindex(prefix)
  return encoding == 'utf-16' and utf16 or utf32
end

--- LSP character in `encoding` -> byte column, clamped to the line.
function M.to_byte_col(line, char, encoding)
  if encoding == 'utf-8' then
    return math.min(char, #line)
  end
  if has_011 then
    return vim.str_byteindex(line, encoding, char, false)
  end
  local ok, col = pcall(vim.str_byteindex, line, char, encoding == 'utf-16')
  return ok and col or #line
end

--- The LSP position of 0-based `row` and byte `col` in `bufnr`.
function M.lsp_position(bufnr, row, col, encoding)
  local line = M.get_line(bufnr, row)
  return { line = row, character = M.to_lsp_char(line, col, encoding) }
end

return M
