--- The language server process: starting one client per Neovim, attaching buffers, and calling it in a
--- way that works on Neovim 0.7 (client.request) as well as 0.11+ (client:request).
local M = {}

M.name = 'diffusion-lsp'

local has_011 = vim.fn.has('nvim-0.11') == 1

--- The id of this plugin's client, once started.
M.client_id = nil

local function config()
  return require('diffusion_lsp').config
end

--- The running client, or nil.
function M.get_client()
  if not M.client_id then
    return nil
  end
  local client = vim.lsp.get_client_by_id(M.client_id)
  if not client then
    return nil
  end
  local stopped = has_011 and client:is_stopped() or (not has_011 and client.is_stopped())
  if stopped then
    return nil
  end
  return client
end

--- The client if it is attached to `bufnr` (0 = current buffer), else nil.
function M.client_for_buf(bufnr)
  local client = M.get_client()
  if not client then
    return nil
  end
  if bufnr == nil or bufnr == 0 then
    bufnr = vim.api.nvim_get_current_buf()
  end
  if vim.lsp.buf_is_attached(bufnr, client.id) then
    return client
  end
  return nil
end

local function raw_request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- Sends a request; returns (ok, request_id). `handler(err, result, ctx)`. Inline completions and
--- Fill/Fix/Refine commands count as in flight (diffusion_lsp.jobs) until answered or cancelled.
function M.request(client, method, params, handler, bufnr)
  local jobs = require('diffusion_lsp.jobs')
  local kind = jobs.kind_of(method, params)
  if not kind then
    return raw_request(client, method, params, handler, bufnr)
  end
  local id
  local ok, request_id = raw_request(client, method, params, function(...)
    if id then
      jobs.finished(client.id, id, true)
    end
    return handler(...)
  end, bufnr)
  if ok and request_id then
    id = request_id
    jobs.started(client.id, id, kind)
  end
  return ok, request_id
end

function M.cancel_request(client, request_id)
  require('diffusion_lsp.jobs').finished(client.id, request_id, false)
  if has_011 then
    return client:cancel_request(request_id)
  end
  return client.cancel_request(request_id)
end

--- Stops and closes `st.timer` (a feature's per-buffer debounce timer), if it has one.
function M.stop_timer(st)
  if st.timer then
    st.timer:stop()
    st.timer:close()
    st.timer = nil
  end
end

--- Cancels `st.pending` (a feature's request in flight for a buffer: `{client, id}`), if any.
function M.cancel_pending(st)
  if st.pending then
    pcall(M.cancel_request, st.pending.client, st.pending.id)
    st.pending = nil
  end
end

function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- A copy of `value` that encodes to the JSON the server expects: every empty table becomes an object
--- (`vim.empty_dict()`; a plain `{}` would go out as `[]`), lists stay lists.
function M.json_object(value)
  if type(value) ~= 'table' then
    return value
  end
  if next(value) == nil then
    return vim.empty_dict()
  end
  local copy = {}
  for k, v in pairs(value) do
    copy[k] = M.json_object(v)
  end
  return copy
end

--- Runs `workspace/executeCommand`; `callback(err, result)` gets the command's result.
function M.execute_command(client, command, arguments, callback, bufnr)
  local params = { command = command, arguments = arguments }
  return M.request(client, 'workspace/executeCommand', params, function(err, result)
    callback(err, result)
  end, bufnr)
end

--- True when the server advertises `provider` (a key of server_capabilities).
function M.has_capability(client, provider)
  local caps = client.server_capabilities or client.resolved_capabilities or {}
  return caps[provider] ~= nil and caps[provider] ~= false
end

local function capabilities(user_caps)
  local caps = vim.lsp.protocol.make_client_capabilities()
  caps.textDocument = caps.textDocument or {}
  caps.textDocument.inlineCompletion = caps.textDocument.inlineCompletion or { dynamicRegistration = false }
  -- The server reports model loading and Fill/Fix/Refine jobs with $/progress (cancellable).
  caps.window = caps.window or {}
  caps.window.workDoneProgress = true
  if user_caps then
    caps = vim.tbl_deep_extend('force', caps, user_caps)
  end
  return caps
end

local function on_attach(client, bufnr)
  require('diffusion_lsp.inline').attach(bufnr, client)
  require('diffusion_lsp.next_edit').attach(bufnr)
  require('diffusion_lsp.commands').map_cancel_key(bufnr)
  local user = config().on_attach
  if user then
    user(client, bufnr)
  end
end

local function client_config(cfg)
  local status = require('diffusion_lsp.status')
  return {
    name = M.name,
    cmd = cfg.cmd,
    cmd_env = cfg.cmd_env,
    root_dir = vim.fn.getcwd(),
    init_options = M.json_object(cfg.settings),
    settings = { diffusionLsp = M.json_object(cfg.settings) },
    capabilities = capabilities(cfg.capabilities),
    handlers = {
      ['diffusionLsp/status'] = function(_, result, ctx)
        status.update(ctx.client_id, result)
      end,
      ['$/progress'] = function(err, result, ctx, handler_config)
        require('diffusion_lsp.jobs').on_progress(ctx.client_id, result)
        return vim.lsp.handlers['$/progress'](err, result, ctx, handler_config)
      end,
    },
    on_attach = on_attach,
    on_exit = function(code, signal, client_id)
      vim.schedule(function()
        status.exited(client_id, code, signal)
        require('diffusion_lsp.jobs').client_exited(client_id)
        if M.client_id == client_id then
          M.client_id = nil
        end
        require('diffusion_lsp.inline').clear_all()
        require('diffusion_lsp.next_edit').client_exited(client_id)
      end)
    end,
  }
end

local warned_missing = false

--- The checkout this plugin lives in (the plugin is its clients/nvim folder), or nil when it is not
--- in one (copied elsewhere).
function M.checkout_dir()
  local source = debug.getinfo(1, 'S').source:sub(2)
  local plugin_dir = vim.fn.resolve(vim.fn.fnamemodify(source, ':p:h:h:h'))
  if vim.fn.fnamemodify(plugin_dir, ':t') ~= 'nvim' then
    return nil
  end
  return vim.fn.fnamemodify(plugin_dir, ':h:h')
end

--- The server that `make setup` / `make demo` installs in the checkout: <checkout>/.venv/bin/diffusion-lsp.
function M.checkout_server()
  local dir = M.checkout_dir()
  return dir and (dir .. '/.venv/bin/diffusion-lsp') or nil
end

--- The command to run: `cmd` when its program is executable; with the default `cmd` and no
--- `diffusion-lsp` on PATH, the checkout's .venv/bin/diffusion-lsp when it exists; else nil.
function M.resolve_cmd(cmd)
  if vim.fn.executable(cmd[1]) == 1 then
    return cmd
  end
  local default = require('diffusion_lsp.config').defaults.cmd
  local found = M.checkout_server()
  if vim.deep_equal(cmd, default) and found and vim.fn.executable(found) == 1 then
    return { found }
  end
  return nil
end

--- The message for a server command that is not there: where to point `cmd`.
function M.not_found_message(cmd)
  local where = M.checkout_server() or '<checkout>/.venv/bin/diffusion-lsp'
  return string.format("the server command '%s' is not executable (not on PATH?). Point the `cmd` option at "
    .. "it: require('diffusion_lsp').setup({ cmd = { '%s' } }) (where `make setup` or `make demo` puts "
    .. "it), or put its folder on PATH; see :checkhealth diffusion_lsp", cmd[1], where)
end

local function report_start_failure(message)
  require('diffusion_lsp.status').failed(message)
  if not warned_missing then
    warned_missing = true
    -- Scheduled: an error raised inside a FileType autocmd during start-up becomes a traceback.
    vim.schedule(function()
      vim.notify('diffusion_lsp: ' .. message, vim.log.levels.ERROR)
    end)
  end
end

--- Starts the server if needed and attaches it to `bufnr`. Returns the client id or nil.
function M.attach(bufnr)
  local cfg = config()
  if not cfg then
    return nil
  end
  if vim.bo[bufnr].buftype ~= '' or vim.api.nvim_buf_get_name(bufnr) == '' then
    return nil
  end
  local client = M.get_client()
  if client then
    if not vim.lsp.buf_is_attached(bufnr, client.id) then
      vim.lsp.buf_attach_client(bufnr, client.id)
    end
    return client.id
  end
  local cmd = M.resolve_cmd(cfg.cmd)
  if not cmd then
    report_start_failure(M.not_found_message(cfg.cmd))
    return nil
  end
  local client_cfg = client_config(cfg)
  client_cfg.cmd = cmd
  local ok, id = pcall(function()
    if has_011 then
      return vim.lsp.start(client_cfg, {
        bufnr = bufnr,
        reuse_client = function(c, conf)
          return c.name == conf.name
        end,
      })
    end
    local started = vim.lsp.start_client(client_cfg)
    if started then
      vim.lsp.buf_attach_client(bufnr, started)
    end
    return started
  end)
  if not ok or not id then
    report_start_failure(string.format("could not start the server (%s): %s", table.concat(cmd, ' '),
      ok and 'see :LspLog' or tostring(id)))
    return nil
  end
  M.client_id = id
  require('diffusion_lsp.status').starting(id)
  return id
end

--- Sends new settings to the running server (workspace/didChangeConfiguration); no-op when none runs.
function M.update_settings(settings)
  local client = M.get_client()
  if not client then
    return false
  end
  -- workspace/configuration answers come from client.config.settings (0.7) or client.settings (0.11).
  client.config.settings = { diffusionLsp = M.json_object(settings) }
  client.settings = client.config.settings
  M.notify(client, 'workspace/didChangeConfiguration', { settings = { diffusionLsp = M.json_object(settings) } })
  return true
end

--- Stops the server (it is started again on the next buffer that needs it).
function M.stop()
  local client = M.get_client()
  if client then
    if has_011 then
      client:stop()
    else
      client.stop()
    end
  end
  M.client_id = nil
end

--- The settings-independent part of the command line, for :checkhealth.
function M.command()
  local cfg = config()
  return cfg and cfg.cmd or require('diffusion_lsp.config').defaults.cmd
end

return M
