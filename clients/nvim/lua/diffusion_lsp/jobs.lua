--- What is in flight: the plugin's requests to the server (inline completions, Fill/Fix/Refine
--- commands) and the server's `$/progress` jobs, for the statusline, :DiffusionStatus and
--- :DiffusionCancel. Fires `User DiffusionLspStatus` on every change.
local M = {}

local uv = vim.uv or vim.loop

--- Requests sent and not answered: key "client:id" -> {client_id, id, kind, started}.
M.requests = {}
--- `$/progress` jobs begun and not ended: token -> {client_id, title, message, percentage, cancellable}.
M.progress = {}
--- The last round-trip time per kind ('inline', 'fix', 'fill', 'refine'), in ms.
M.last_ms = {}

local function now_ms()
  return uv.hrtime() / 1e6
end

local function changed()
  vim.api.nvim_exec_autocmds('User', { pattern = 'DiffusionLspStatus', modeline = false })
end

local function key(client_id, id)
  return tostring(client_id) .. ':' .. tostring(id)
end

--- The kind a request counts as, or nil for requests that are not tracked (status, others).
function M.kind_of(method, params)
  if method == 'textDocument/inlineCompletion' then
    return 'inline'
  end
  if method == 'workspace/executeCommand' and type(params) == 'table' and type(params.command) == 'string' then
    local name = params.command:match('^diffusionLsp%.(.+)$')
    if name and name ~= 'status' then
      return name
    end
  end
  return nil
end

function M.started(client_id, id, kind)
  M.requests[key(client_id, id)] = { client_id = client_id, id = id, kind = kind, started = now_ms() }
  changed()
end

--- The answer came (`answered`: record its latency) or the request was cancelled.
function M.finished(client_id, id, answered)
  local k = key(client_id, id)
  local r = M.requests[k]
  if not r then
    return
  end
  M.requests[k] = nil
  if answered then
    M.last_ms[r.kind] = now_ms() - r.started
  end
  changed()
end

--- Requests in flight (of `kind` when given).
function M.count(kind)
  local n = 0
  for _, r in pairs(M.requests) do
    if kind == nil or r.kind == kind then
      n = n + 1
    end
  end
  return n
end

--- One line for a progress job: "TITLE: MESSAGE (NN%)".
function M.format_progress(p)
  local s = p.title or 'diffusion-lsp'
  if p.message and p.message ~= '' then
    s = s .. ': ' .. p.message
  end
  if type(p.percentage) == 'number' then
    s = s .. string.format(' (%d%%)', p.percentage)
  end
  return s
end

local function echo(text)
  -- Cut to the room left on the command line, so that it never asks to press Enter.
  local room = math.max(vim.v.echospace or (vim.o.columns - 12), 10)
  if vim.fn.strdisplaywidth(text) > room then
    text = vim.fn.strcharpart(text, 0, room - 1) .. '…'
  end
  vim.api.nvim_echo({ { text } }, false, {})
end

local function echo_enabled()
  local cfg = require('diffusion_lsp').config
  return cfg and cfg.progress
end

--- Called for each `$/progress` of the plugin's client (before Neovim's own handler).
function M.on_progress(client_id, params)
  if type(params) ~= 'table' or type(params.value) ~= 'table' then
    return
  end
  local token, value = params.token, params.value
  local p = M.progress[token]
  if value.kind == 'begin' then
    p = { client_id = client_id, title = value.title, message = value.message, percentage = value.percentage,
      cancellable = value.cancellable == true }
    M.progress[token] = p
  elseif value.kind == 'report' and p then
    if value.message ~= nil then
      p.message = value.message
    end
    if value.percentage ~= nil then
      p.percentage = value.percentage
    end
    if value.cancellable ~= nil then
      p.cancellable = value.cancellable == true
    end
  elseif value.kind == 'end' then
    M.progress[token] = nil
    if p and echo_enabled() then
      echo(string.format('%s: %s', p.title or 'diffusion-lsp', value.message or 'done'))
    end
    changed()
    return
  else
    return
  end
  if echo_enabled() then
    echo(M.format_progress(p) .. (p.cancellable and ' - :DiffusionCancel stops it' or ''))
  end
  changed()
end

--- The progress jobs running, oldest token first: list of {token, ...}.
function M.running()
  local list = {}
  for token, p in pairs(M.progress) do
    table.insert(list, vim.tbl_extend('force', { token = token }, p))
  end
  table.sort(list, function(a, b)
    return tostring(a.token) < tostring(b.token)
  end)
  return list
end

--- Forgets everything of a client that exited.
function M.client_exited(client_id)
  for k, r in pairs(M.requests) do
    if r.client_id == client_id then
      M.requests[k] = nil
    end
  end
  for token, p in pairs(M.progress) do
    if p.client_id == client_id then
      M.progress[token] = nil
    end
  end
  changed()
end

return M
