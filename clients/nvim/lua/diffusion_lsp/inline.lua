--- Inline (ghost-text) completion. On Neovim with vim.lsp.inline_completion (0.12+) it enables that;
--- otherwise it requests textDocument/inlineCompletion itself after a debounce and draws the suggestion
--- with extmarks: the first line overlaid at the cursor, the rest as virtual lines. Caching and
--- supersession of stale requests live in the server; here a response is shown only if the buffer and
--- the cursor are still where the request was made.
local M = {}

local api = vim.api
local uv = vim.uv or vim.loop
local position = require('diffusion_lsp.position')
local server = require('diffusion_lsp.server')

M.ns = api.nvim_create_namespace('diffusion_lsp.ghost')

local TRIGGER_INVOKED = 1
local TRIGGER_AUTOMATIC = 2

--- Per-buffer state: {timer, pending = {client, id, tick, row, col}, items = {ghost...}, index,
--- extmark, expect = {tick, row, col}}. A ghost is {text, row, start_col, end_col} in bytes, 0-based.
local states = {}

local function options()
  return require('diffusion_lsp').config.inline
end

function M.native_available()
  return type(vim.lsp.inline_completion) == 'table' and type(vim.lsp.inline_completion.enable) == 'function'
end

--- 'native' or 'plugin', as the configuration and this Neovim allow.
function M.backend()
  local wanted = options().backend
  if wanted == 'plugin' or not M.native_available() then
    return 'plugin'
  end
  return 'native'
end

-- Positions ---------------------------------------------------------------------------------------

local get_line = position.get_line
local to_byte_col = position.to_byte_col
local to_lsp_char = position.to_lsp_char

local function cursor()
  local pos = api.nvim_win_get_cursor(0)
  return pos[1] - 1, pos[2]
end

local function in_insert_mode()
  return api.nvim_get_mode().mode:sub(1, 1) == 'i'
end

-- Suggestions -------------------------------------------------------------------------------------

--- C0 control characters and DEL, less tab, line feed and carriage return: never code, but a model
--- that has not learned its vocabulary can send them, and a NUL makes every vim.fn call on the text
--- fail (E976).
local CONTROL = '[%z\1-\8\11\12\14-\31\127]'

--- Converts one InlineCompletionItem into a ghost at (row, col), or nil when it cannot be shown there.
function M.ghost_from_item(bufnr, encoding, raw, row, col)
  local text = raw.insertText
  if type(text) == 'table' then
    text = text.value
  end
  if type(text) ~= 'string' or text:find(CONTROL) then
    return nil
  end
  local line = get_line(bufnr, row)
  local start_col, end_col = col, col
  if raw.range then
    if raw.range.start.line ~= row or raw.range['end'].line ~= row then
      return nil
    end
    start_col = to_byte_col(line, raw.range.start.character, encoding)
    end_col = to_byte_col(line, raw.range['end'].character, encoding)
  end
  if start_col < col then
    -- The item starts before the cursor: show it only if the text typed since is its prefix.
    local typed = line:sub(start_col + 1, col)
    if text:sub(1, #typed) ~= typed then
      return nil
    end
    text = text:sub(#typed + 1)
    start_col = col
  end
  if start_col ~= col or end_col < start_col or text == '' then
    return nil
  end
  return { text = text, row = row, start_col = start_col, end_col = end_col }
end

local function expand_tabs(s, bufnr)
  return (s:gsub('\t', string.rep(' ', vim.bo[bufnr].tabstop)))
end

--- The virtual text a ghost shows: {virt_text = chunks, virt_lines = {chunks...}}. The first line
--- is overlaid at the cursor and shows the line as it will read after accepting (padded with blanks to
--- cover the text it replaces); the other lines are virtual lines below.
function M.virtual_text(bufnr, ghost)
  local hl = options().hl_group
  local line = get_line(bufnr, ghost.row)
  local after = line:sub(ghost.end_col + 1)
  local covered = vim.fn.strdisplaywidth(expand_tabs(line:sub(ghost.start_col + 1), bufnr))
  local lines = vim.split(ghost.text, '\n', { plain = true })
  local first = { { expand_tabs(lines[1], bufnr), hl } }
  local virt_lines = {}
  if #lines == 1 then
    if after ~= '' then
      table.insert(first, { expand_tabs(after, bufnr) })
    end
  else
    for i = 2, #lines do
      local chunks = { { expand_tabs(lines[i], bufnr), hl } }
      if i == #lines and after ~= '' then
        table.insert(chunks, { expand_tabs(after, bufnr) })
      end
      table.insert(virt_lines, chunks)
    end
  end
  local width = 0
  for _, chunk in ipairs(first) do
    width = width + vim.fn.strdisplaywidth(chunk[1])
  end
  if width < covered then
    table.insert(first, { string.rep(' ', covered - width) })
  end
  return { virt_text = first, virt_lines = virt_lines }
end

local function state_of(bufnr)
  local st = states[bufnr]
  if not st then
    st = { items = {}, index = 0 }
    states[bufnr] = st
  end
  return st
end

local stop_timer, cancel_pending = server.stop_timer, server.cancel_pending

local function clear_extmark(bufnr, st)
  if st.extmark then
    pcall(api.nvim_buf_del_extmark, bufnr, M.ns, st.extmark)
    st.extmark = nil
  end
end

--- Removes the ghost text of `bufnr` and forgets its suggestions and pending request.
function M.clear(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local st = states[bufnr]
  if not st then
    return
  end
  stop_timer(st)
  cancel_pending(st)
  clear_extmark(bufnr, st)
  st.items, st.index, st.expect = {}, 0, nil
end

function M.clear_all()
  for bufnr in pairs(states) do
    if api.nvim_buf_is_valid(bufnr) then
      M.clear(bufnr)
    end
  end
end

--- Cancels every pending inline request and debounce timer (the ghost on display stays); returns how
--- many requests were cancelled.
function M.cancel_pending_all()
  local n = 0
  for _, st in pairs(states) do
    stop_timer(st)
    if st.pending then
      n = n + 1
      cancel_pending(st)
    end
  end
  return n
end

-- Automatic suggestions on and off (:DiffusionToggle) ------------------------------------------------

--- nil: follow the `inline.auto_trigger` option; true/false: set at run time.
M.auto_override = nil

--- True when suggestions are requested as you type.
function M.auto_enabled()
  if M.auto_override ~= nil then
    return M.auto_override
  end
  return options().auto_trigger
end

--- Turns automatic suggestions on or off (the trigger key keeps working); returns the new state.
function M.set_auto(on)
  M.auto_override = on and true or false
  if not on then
    M.cancel_pending_all()
    M.clear_all()
  end
  if M.backend() == 'native' then
    local client = server.get_client()
    for bufnr in pairs(states) do
      if client and api.nvim_buf_is_valid(bufnr) and vim.lsp.buf_is_attached(bufnr, client.id) then
        vim.lsp.inline_completion.enable(M.auto_override, { bufnr = bufnr })
      end
    end
  end
  vim.api.nvim_exec_autocmds('User', { pattern = 'DiffusionLspStatus', modeline = false })
  return M.auto_override
end

--- The ghost on display in `bufnr`, or nil.
function M.current(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local st = states[bufnr]
  if not st or not st.extmark then
    return nil
  end
  return st.items[st.index]
end

local function show(bufnr, st, index)
  clear_extmark(bufnr, st)
  st.index = index
  local ghost = st.items[index]
  local vt = M.virtual_text(bufnr, ghost)
  local opts = { virt_text = vt.virt_text, virt_text_pos = 'overlay', hl_mode = 'combine', priority = 200 }
  if #vt.virt_lines > 0 then
    opts.virt_lines = vt.virt_lines
  end
  st.extmark = api.nvim_buf_set_extmark(bufnr, M.ns, ghost.row, ghost.start_col, opts)
  st.expect = { tick = api.nvim_buf_get_changedtick(bufnr), row = ghost.row, col = ghost.start_col }
end

--- Reports `message` on one line once insert mode is left: a message in insert mode that brings up the
--- hit-enter prompt (an error's traceback does) ends the insert's undo step, so the typing around
--- it would take two `u` to undo.
local function report_after_insert(bufnr, message)
  message = 'diffusion_lsp: ' .. (message:match('^[^\n]*') or message)
  local function report()
    vim.notify(message, vim.log.levels.ERROR)
  end
  if not in_insert_mode() then
    report()
    return
  end
  api.nvim_create_autocmd('InsertLeave', { buffer = bufnr, once = true, callback = function()
    vim.schedule(report)
  end })
end

local function on_response(bufnr, st, request, err, result)
  if st.pending ~= request then
    return -- superseded by a newer request
  end
  st.pending = nil
  if err or not result then
    return
  end
  local row, col = cursor()
  if api.nvim_get_current_buf() ~= bufnr or not in_insert_mode()
    or api.nvim_buf_get_changedtick(bufnr) ~= request.tick or row ~= request.row or col ~= request.col then
    return -- the buffer or the cursor moved on
  end
  local items = {}
  for _, raw in ipairs(result.items or result) do
    local ghost = M.ghost_from_item(bufnr, request.client.offset_encoding or 'utf-16', raw, row, col)
    if ghost then
      table.insert(items, ghost)
    end
  end
  if #items == 0 then
    return
  end
  st.items = items
  local drawn, draw_err = pcall(show, bufnr, st, 1)
  if not drawn then
    clear_extmark(bufnr, st)
    st.items, st.index, st.expect = {}, 0, nil
    report_after_insert(bufnr, 'could not show the suggestion: ' .. tostring(draw_err))
  end
end

--- Asks the server for a suggestion at the cursor now. `kind`: 1 invoked, 2 automatic.
function M.request(bufnr, kind)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local client = server.client_for_buf(bufnr)
  if not client or not server.has_capability(client, 'inlineCompletionProvider') then
    return false
  end
  local st = state_of(bufnr)
  cancel_pending(st)
  local row, col = cursor()
  local line = get_line(bufnr, row)
  local encoding = client.offset_encoding or 'utf-16'
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    position = { line = row, character = to_lsp_char(line, col, encoding) },
    context = { triggerKind = kind or TRIGGER_INVOKED },
  }
  local request = { client = client, tick = api.nvim_buf_get_changedtick(bufnr), row = row, col = col }
  local ok, id = server.request(client, 'textDocument/inlineCompletion', params, function(err, result)
    on_response(bufnr, st, request, err, result)
  end, bufnr)
  if not ok then
    return false
  end
  request.id = id
  st.pending = request
  return true
end

--- Schedules an automatic request after the debounce, if the buffer and cursor stay put until then.
local function schedule(bufnr)
  local st = state_of(bufnr)
  stop_timer(st)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  local row, col = cursor()
  st.timer = uv.new_timer()
  st.timer:start(options().debounce_ms, 0, vim.schedule_wrap(function()
    stop_timer(st)
    if not api.nvim_buf_is_valid(bufnr) or api.nvim_get_current_buf() ~= bufnr or not in_insert_mode() then
      return
    end
    local r, c = cursor()
    if api.nvim_buf_get_changedtick(bufnr) == tick and r == row and c == col then
      M.request(bufnr, TRIGGER_AUTOMATIC)
    end
  end))
end

--- True when the buffer and cursor are as they were when the ghost was drawn (or last accepted in part).
local function still_fresh(bufnr, st)
  if not st.expect then
    return false
  end
  local row, col = cursor()
  return api.nvim_buf_get_changedtick(bufnr) == st.expect.tick and row == st.expect.row and col == st.expect.col
end

-- Accepting ---------------------------------------------------------------------------------------

--- The first word of `text`: leading blanks then a run of word characters or of other characters.
function M.word_prefix(text)
  return text:match('^%s*[%w_]+') or text:match('^%s*[^%w_%s]+') or text:match('^%s+') or text
end

--- The first line of `text` with its line break.
function M.line_prefix(text)
  return text:match('^[^\n]*\n') or text
end

local function set_cursor(row, col)
  api.nvim_win_set_cursor(0, { row + 1, col })
end

--- Inserts all (`how` = 'all'), the next word ('word') or the rest of the line ('line') of the ghost.
--- Returns true if something was inserted.
function M.accept(how)
  local bufnr = api.nvim_get_current_buf()
  local st = states[bufnr]
  local ghost = M.current(bufnr)
  if not ghost or not still_fresh(bufnr, st) then
    return false
  end
  local part = ghost.text
  if how == 'word' then
    part = M.word_prefix(ghost.text)
  elseif how == 'line' then
    part = M.line_prefix(ghost.text)
  end
  local lines = vim.split(part, '\n', { plain = true })
  local end_row = ghost.row + #lines - 1
  local end_col = (#lines == 1 and ghost.start_col or 0) + #lines[#lines]
  clear_extmark(bufnr, st)
  if part == ghost.text then
    api.nvim_buf_set_text(bufnr, ghost.row, ghost.start_col, ghost.row, ghost.end_col, lines)
    st.items, st.index, st.expect = {}, 0, nil
    set_cursor(end_row, end_col)
    return true
  end
  -- Part of it: insert, keep the rest on display; the text it replaces moves along.
  api.nvim_buf_set_text(bufnr, ghost.row, ghost.start_col, ghost.row, ghost.start_col, lines)
  set_cursor(end_row, end_col)
  local rest = {
    text = ghost.text:sub(#part + 1),
    row = end_row,
    start_col = end_col,
    end_col = end_col + (ghost.end_col - ghost.start_col),
  }
  st.items = { rest }
  show(bufnr, st, 1)
  return true
end

--- Shows the next (`step` = 1) or previous (-1) alternative. Returns true if one is shown.
function M.cycle(step)
  local bufnr = api.nvim_get_current_buf()
  local st = states[bufnr]
  if not M.current(bufnr) or not still_fresh(bufnr, st) or #st.items < 2 then
    return false
  end
  show(bufnr, st, (st.index - 1 + step) % #st.items + 1)
  return true
end

function M.dismiss()
  local bufnr = api.nvim_get_current_buf()
  local shown = M.current(bufnr) ~= nil
  M.clear(bufnr)
  return shown
end

-- Native backend (Neovim 0.12+) -------------------------------------------------------------------

local native = {}

function native.accept()
  return vim.lsp.inline_completion.get({ bufnr = api.nvim_get_current_buf() })
end

function native.cycle(step)
  vim.lsp.inline_completion.select({ bufnr = api.nvim_get_current_buf(), count = step })
  return true
end

function native.dismiss()
  -- Turning the feature off and on again drops the candidate on display.
  local bufnr = api.nvim_get_current_buf()
  vim.lsp.inline_completion.enable(false, { bufnr = bufnr })
  vim.lsp.inline_completion.enable(true, { bufnr = bufnr })
  return true
end

local warned_partial = false

-- Keys --------------------------------------------------------------------------------------------

local function feed(key)
  api.nvim_feedkeys(api.nvim_replace_termcodes(key, true, false, true), 'n', false)
end

--- The action behind each key. Each returns true when it did something; otherwise the key is typed.
local function actions(backend)
  if backend == 'native' then
    local function partial()
      if not warned_partial then
        warned_partial = true
        vim.notify("diffusion_lsp: accepting a word or a line needs inline.backend = 'plugin'",
          vim.log.levels.WARN)
      end
      return false
    end
    return {
      accept = native.accept,
      accept_word = partial,
      accept_line = partial,
      dismiss = native.dismiss,
      next = function() return native.cycle(1) end,
      prev = function() return native.cycle(-1) end,
      trigger = native.accept,
    }
  end
  return {
    accept = function() return M.accept('all') end,
    accept_word = function() return M.accept('word') end,
    accept_line = function() return M.accept('line') end,
    dismiss = M.dismiss,
    next = function() return M.cycle(1) end,
    prev = function() return M.cycle(-1) end,
    trigger = function() return M.request(0, TRIGGER_INVOKED) end,
  }
end

local DESCRIPTIONS = {
  accept = 'accept the suggestion',
  accept_word = 'accept the next word of the suggestion',
  accept_line = 'accept the next line of the suggestion',
  dismiss = 'dismiss the suggestion',
  next = 'next alternative suggestion',
  prev = 'previous alternative suggestion',
  trigger = 'ask for a suggestion now',
}

local function map_keys(bufnr, backend)
  local keys = options().keys
  local acts = actions(backend)
  local function map(key, name)
    local action = acts[name]
    vim.keymap.set('i', key, function()
      if not action() and name ~= 'trigger' then
        feed(key)
      end
    end, { buffer = bufnr, silent = true, desc = 'diffusion_lsp: ' .. DESCRIPTIONS[name] })
  end
  for name in pairs(acts) do
    if keys[name] then
      map(keys[name], name)
    end
  end
  if options().tab_accept and keys.accept ~= '<Tab>' then
    map('<Tab>', 'accept')
  end
end

-- Attaching ---------------------------------------------------------------------------------------

local function attach_plugin(bufnr)
  local group = api.nvim_create_augroup('diffusion_lsp_inline_' .. bufnr, { clear = true })
  local function autocmd(events, callback)
    api.nvim_create_autocmd(events, { group = group, buffer = bufnr, callback = callback })
  end
  autocmd({ 'TextChangedI', 'TextChangedP' }, function()
    local st = state_of(bufnr)
    if M.current(bufnr) and still_fresh(bufnr, st) then
      return -- the change was our own partial accept
    end
    M.clear(bufnr)
    if M.auto_enabled() then
      schedule(bufnr)
    end
  end)
  autocmd('CursorMovedI', function()
    local st = state_of(bufnr)
    if M.current(bufnr) and not still_fresh(bufnr, st) then
      clear_extmark(bufnr, st)
    end
  end)
  autocmd({ 'InsertLeave', 'BufLeave', 'TextChanged' }, function()
    M.clear(bufnr)
  end)
  autocmd({ 'BufUnload', 'BufWipeout' }, function()
    M.clear(bufnr)
    states[bufnr] = nil
  end)
end

--- Sets up inline completion for a buffer the server attached to.
function M.attach(bufnr, client)
  local opts = options()
  if not opts.enabled or not server.has_capability(client, 'inlineCompletionProvider') then
    return
  end
  local backend = M.backend()
  if backend == 'native' then
    state_of(bufnr)
    vim.lsp.inline_completion.enable(M.auto_enabled(), { bufnr = bufnr })
  else
    attach_plugin(bufnr)
  end
  map_keys(bufnr, backend)
end

return M
