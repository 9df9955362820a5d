--- How next edit draws an edit: the highlights, whether this Neovim draws inline virtual text, an edit
--- received from the server in byte positions, and the extmarks of its diff preview (next_edit.lua
--- places them).
local M = {}

local api = vim.api
local position = require('diffusion_lsp.position')

M.ns = api.nvim_create_namespace('diffusion_lsp.next_edit')

--- Highlights (set unless the user defined them; again after a colorscheme change): removed text as
--- DiffDelete struck through, the new text as DiffAdd, the key hint as Comment.
function M.define_highlights()
  local del = vim.fn.synIDtrans(vim.fn.hlID('DiffDelete'))
  local attrs = 'cterm=strikethrough gui=strikethrough'
  for _, spec in ipairs({ { 'guibg', 'bg#', 'gui' }, { 'guifg', 'fg#', 'gui' }, { 'ctermbg', 'bg', 'cterm' },
    { 'ctermfg', 'fg', 'cterm' } }) do
    local value = vim.fn.synIDattr(del, spec[2], spec[3])
    if value ~= '' then
      attrs = attrs .. ' ' .. spec[1] .. '=' .. value
    end
  end
  vim.cmd('highlight default DiffusionNextEditDelete ' .. attrs)
  vim.cmd('highlight default link DiffusionNextEditInsert DiffAdd')
  vim.cmd('highlight default link DiffusionNextEditHint Comment')
end

--- nil: not probed yet; true/false: whether this Neovim draws `virt_text_pos = 'inline'` (0.10+).
M.inline_supported = nil

function M.supports_inline()
  if M.inline_supported == nil then
    local buf = api.nvim_create_buf(false, true)
    M.inline_supported = pcall(api.nvim_buf_set_extmark, buf, M.ns, 0, 0,
      { virt_text = { { 'x' } }, virt_text_pos = 'inline' })
    api.nvim_buf_delete(buf, { force = true })
  end
  return M.inline_supported
end

local function expand_tabs(s, bufnr)
  return (s:gsub('\t', string.rep(' ', vim.bo[bufnr].tabstop)))
end

--- Converts one received edit into byte positions in `bufnr`, or nil when it does not fit the buffer.
function M.edit_from_item(bufnr, encoding, item)
  if type(item) ~= 'table' or type(item.text) ~= 'string' or type(item.range) ~= 'table' then
    return nil
  end
  local s, e = item.range.start, item.range['end']
  local count = api.nvim_buf_line_count(bufnr)
  if s.line < 0 or e.line < s.line or e.line >= count then
    return nil
  end
  local col = position.to_byte_col(position.get_line(bufnr, s.line), s.character, encoding)
  local end_col = position.to_byte_col(position.get_line(bufnr, e.line), e.character, encoding)
  if e.line == s.line and end_col < col then
    return nil
  end
  return { row = s.line, col = col, end_row = e.line, end_col = end_col, text = item.text, item = item }
end

--- The extmarks that draw `edit`: a list of {row, col, opts}. `inline`: draw a one-line replacement
--- inline; `hint`: the key hint at the end of the edit's first line (or nil).
function M.marks(bufnr, edit, inline, hint)
  local marks = {}
  if edit.end_row > edit.row or edit.end_col > edit.col then
    table.insert(marks, { edit.row, edit.col, { end_row = edit.end_row, end_col = edit.end_col,
      hl_group = 'DiffusionNextEditDelete', hl_mode = 'combine', priority = 250 } })
  end
  local new_lines = vim.split(edit.text, '\n', { plain = true })
  if inline and #new_lines == 1 and edit.row == edit.end_row then
    if edit.text ~= '' then
      table.insert(marks, { edit.end_row, edit.end_col, { virt_text = { { expand_tabs(edit.text, bufnr),
        'DiffusionNextEditInsert' } }, virt_text_pos = 'inline', priority = 250 } })
    end
  elseif edit.text ~= '' or edit.end_row > edit.row then
    -- The lines as they will read, below the last line the edit touches.
    local prefix = position.get_line(bufnr, edit.row):sub(1, edit.col)
    local suffix = position.get_line(bufnr, edit.end_row):sub(edit.end_col + 1)
    local virt_lines = {}
    for i, text in ipairs(new_lines) do
      local chunks = {}
      if i == 1 and prefix ~= '' then
        table.insert(chunks, { expand_tabs(prefix, bufnr) })
      end
      if text ~= '' then
        table.insert(chunks, { expand_tabs(text, bufnr), 'DiffusionNextEditInsert' })
      end
      if i == #new_lines and suffix ~= '' then
        table.insert(chunks, { expand_tabs(suffix, bufnr) })
      end
      table.insert(virt_lines, #chunks > 0 and chunks or { { '' } })
    end
    table.insert(marks, { edit.end_row, 0, { virt_lines = virt_lines, priority = 250 } })
  end
  if hint then
    table.insert(marks, { edit.row, 0, { virt_text = { { ' ' .. hint, 'DiffusionNextEditHint' } },
      virt_text_pos = 'eol', priority = 250 } })
  end
  return marks
end

--- The hint naming `keys` (the next_edit.keymaps option), e.g. 'next edit: <M-a> accept, <M-d> dismiss',
--- or nil without keys.
function M.hint(keys)
  keys = keys or {}
  local parts = {}
  for _, name in ipairs({ 'accept', 'jump', 'dismiss' }) do
    if keys[name] then
      table.insert(parts, keys[name] .. ' ' .. name)
    end
  end
  return #parts > 0 and ('next edit: ' .. table.concat(parts, ', ')) or nil
end

return M
