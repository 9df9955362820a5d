--- Next edit: after each pause in editing (and on :DiffusionNextEdit) asks the server where the next
--- edit goes (`textDocument/copilotInlineEdit`) and draws it where it goes, as a diff preview: the text
--- it removes highlighted as removed, the new text as virtual text (inline after the removed text where
--- this Neovim draws inline virtual text, else, and for a replacement of several lines, as virtual lines
--- below: the lines as they will read). Jump moves the cursor to it, accept applies it (only on the text
--- it was computed on), dismiss or any change drops it. One request per buffer in flight; a newer one
--- cancels it.
local M = {}

local api = vim.api
local uv = vim.uv or vim.loop
local position = require('diffusion_lsp.position')
local server = require('diffusion_lsp.server')
local preview = require('diffusion_lsp.next_edit_preview')

M.ns = preview.ns
M.METHOD = 'textDocument/copilotInlineEdit'
M.SHOWN = 'textDocument/didShowInlineEdit'

local METHOD_NOT_FOUND = -32601
local REQUEST_CANCELLED = -32800

--- Per-buffer state: {timer, pending = {client, id, tick, version, explicit}, edit = {...}}. An edit is
--- {row, col, end_row, end_col (bytes, 0-based, end exclusive), text, item (as received), tick, client}.
local states = {}
--- Clients that answered MethodNotFound: not asked again.
local unsupported = {}

local function options()
  return require('diffusion_lsp').config.next_edit
end

local function notify(message, level)
  vim.notify('diffusion_lsp: ' .. message, level or vim.log.levels.INFO)
end

local function state_of(bufnr)
  local st = states[bufnr]
  if not st then
    st = {}
    states[bufnr] = st
  end
  return st
end

local stop_timer, cancel_pending = server.stop_timer, server.cancel_pending

--- Removes the preview of `bufnr` (the request in flight and the timer stay).
local function clear_preview(bufnr, st)
  st.edit = nil
  if api.nvim_buf_is_valid(bufnr) then
    api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  end
end

--- Drops everything of `bufnr`: preview, pending request, timer.
function M.clear(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local st = states[bufnr]
  if st then
    stop_timer(st)
    cancel_pending(st)
    clear_preview(bufnr, st)
  end
end

function M.clear_all()
  for bufnr in pairs(states) do
    M.clear(bufnr)
  end
end

--- The edit on display in `bufnr` ({row, col, end_row, end_col, text, item, tick}), or nil.
function M.current(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local st = states[bufnr]
  return st and st.edit or nil
end

--- The document version the client last sent for `bufnr` (what the server's edits refer to).
function M.version(bufnr)
  local versions = vim.lsp.util.buf_versions or {}
  return versions[bufnr] or api.nvim_buf_get_changedtick(bufnr)
end

-- Drawing -----------------------------------------------------------------------------------------

--- Draws `edit` (from next_edit_preview.edit_from_item) in `bufnr` and remembers it; tells the server it is shown.
function M.show(bufnr, edit, client)
  local st = state_of(bufnr)
  clear_preview(bufnr, st)
  for _, mark in ipairs(preview.marks(bufnr, edit, preview.supports_inline(), preview.hint(options().keymaps))) do
    api.nvim_buf_set_extmark(bufnr, M.ns, mark[1], mark[2], mark[3])
  end
  edit.tick = api.nvim_buf_get_changedtick(bufnr)
  edit.client = client
  st.edit = edit
  if client then
    server.notify(client, M.SHOWN, { item = edit.item })
  end
  api.nvim_exec_autocmds('User', { pattern = 'DiffusionNextEdit', modeline = false })
end

-- Requests ----------------------------------------------------------------------------------------

local function on_response(bufnr, st, request, err, result)
  if st.pending ~= request then
    return -- superseded (cancelled) by a newer request
  end
  st.pending = nil
  if err then
    if err.code == METHOD_NOT_FOUND then
      unsupported[request.client.id] = true
      if request.explicit then
        notify('this server has no next edit (textDocument/copilotInlineEdit)', vim.log.levels.WARN)
      end
    elseif err.code ~= REQUEST_CANCELLED and request.explicit then
      notify('next edit failed: ' .. (err.message or vim.inspect(err)), vim.log.levels.WARN)
    end
    return
  end
  if not api.nvim_buf_is_valid(bufnr) or api.nvim_buf_get_changedtick(bufnr) ~= request.tick then
    return -- the buffer moved on; the next pause asks again
  end
  local uri = vim.uri_from_bufnr(bufnr)
  local encoding = request.client.offset_encoding or 'utf-16'
  for _, item in ipairs(type(result) == 'table' and result.edits or {}) do
    local doc = type(item) == 'table' and item.textDocument or nil
    local fits = doc == nil or ((doc.uri == nil or doc.uri == uri)
      and (doc.version == nil or doc.version == vim.NIL or doc.version == request.version))
    local edit = fits and preview.edit_from_item(bufnr, encoding, item) or nil
    if edit then
      M.show(bufnr, edit, request.client)
      return
    end
  end
  if request.explicit then
    notify('no next edit here')
  end
end

--- Asks the server for the next edit of `bufnr` at its cursor now (`explicit`: say when there is none).
function M.request(bufnr, explicit)
  bufnr = (bufnr == nil or bufnr == 0) and api.nvim_get_current_buf() or bufnr
  local client = server.client_for_buf(bufnr)
  if not client or unsupported[client.id] then
    if explicit then
      notify(client and 'this server has no next edit' or 'the server is not attached to this buffer',
        vim.log.levels.WARN)
    end
    return false
  end
  local st = state_of(bufnr)
  stop_timer(st)
  cancel_pending(st)
  local pos = { 0, 0 }
  if api.nvim_get_current_buf() == bufnr then
    pos = api.nvim_win_get_cursor(0)
  end
  local row = pos[1] - 1
  local request = { client = client, tick = api.nvim_buf_get_changedtick(bufnr), version = M.version(bufnr),
    explicit = explicit }
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr), version = request.version },
    position = position.lsp_position(bufnr, row, pos[2], client.offset_encoding or 'utf-16'),
  }
  local ok, id = server.request(client, M.METHOD, params, function(err, result)
    on_response(bufnr, st, request, err, result)
  end, bufnr)
  if not ok then
    return false
  end
  request.id = id
  st.pending = request
  return true
end

--- After an edit: drops a preview the change made stale and asks again after `debounce_ms` of quiet.
local function on_change(bufnr)
  local st = state_of(bufnr)
  local tick = api.nvim_buf_get_changedtick(bufnr)
  if st.edit and st.edit.tick ~= tick then
    clear_preview(bufnr, st)
  end
  stop_timer(st)
  cancel_pending(st)
  if not options().auto then
    return
  end
  st.timer = uv.new_timer()
  st.timer:start(options().debounce_ms, 0, vim.schedule_wrap(function()
    stop_timer(st)
    if api.nvim_buf_is_valid(bufnr) and api.nvim_get_current_buf() == bufnr
      and api.nvim_buf_get_changedtick(bufnr) == tick then
      M.request(bufnr, false)
    end
  end))
end

-- Jump, accept, dismiss ---------------------------------------------------------------------------

--- Moves the cursor to the start of the edit on display. Returns true if there is one.
function M.jump()
  local edit = M.current(0)
  if not edit then
    return false
  end
  api.nvim_win_set_cursor(0, { edit.row + 1, edit.col })
  return true
end

--- Applies the edit on display, if the buffer is still the one it was computed on (else dismisses it
--- with a message). Returns true if there was an edit.
function M.accept()
  local bufnr = api.nvim_get_current_buf()
  local st = states[bufnr]
  local edit = st and st.edit
  if not edit then
    return false
  end
  clear_preview(bufnr, st)
  if api.nvim_buf_get_changedtick(bufnr) ~= edit.tick then
    notify('the buffer changed since the next edit was computed; dismissed it', vim.log.levels.WARN)
    return true
  end
  local lines = vim.split(edit.text, '\n', { plain = true })
  api.nvim_buf_set_text(bufnr, edit.row, edit.col, edit.end_row, edit.end_col, lines)
  local end_row = edit.row + #lines - 1
  local end_col = (#lines == 1 and edit.col or 0) + #lines[#lines]
  api.nvim_win_set_cursor(0, { end_row + 1, end_col })
  local command = edit.item.command
  if type(command) == 'table' and type(command.command) == 'string' and edit.client then
    server.execute_command(edit.client, command.command, command.arguments or {}, function() end, bufnr)
  end
  return true
end

--- Drops the edit on display. Returns true if there was one.
function M.dismiss()
  local bufnr = api.nvim_get_current_buf()
  local st = states[bufnr]
  if not st or not st.edit then
    return false
  end
  clear_preview(bufnr, st)
  return true
end

-- Attaching ---------------------------------------------------------------------------------------

local DESCRIPTIONS = {
  jump = 'go to the next edit',
  accept = 'apply the next edit',
  dismiss = 'dismiss the next edit',
}

local function map_keys(bufnr)
  local keys = options().keymaps or {}
  local actions = { jump = M.jump, accept = M.accept, dismiss = M.dismiss }
  for name, action in pairs(actions) do
    local key = keys[name]
    if key then
      vim.keymap.set({ 'n', 'i' }, key, function()
        if not action() then
          -- Nothing on display: the key does what it did before.
          api.nvim_feedkeys(api.nvim_replace_termcodes(key, true, false, true), 'n', false)
        end
      end, { buffer = bufnr, silent = true, desc = 'diffusion_lsp: ' .. DESCRIPTIONS[name] })
    end
  end
end

--- Sets next edit up for a buffer the server attached to.
function M.attach(bufnr)
  local opts = options()
  if not opts.enabled then
    return
  end
  state_of(bufnr)
  local group = api.nvim_create_augroup('diffusion_lsp_next_edit_' .. bufnr, { clear = true })
  api.nvim_create_autocmd({ 'TextChanged', 'TextChangedI' }, { group = group, buffer = bufnr,
    callback = function()
      on_change(bufnr)
    end })
  api.nvim_create_autocmd({ 'BufUnload', 'BufWipeout' }, { group = group, buffer = bufnr,
    callback = function()
      M.clear(bufnr)
      states[bufnr] = nil
    end })
  map_keys(bufnr)
end

--- Forgets what a stopped client answered (a restarted server is asked again).
function M.client_exited(client_id)
  unsupported[client_id] = nil
  M.clear_all()
end

return M
