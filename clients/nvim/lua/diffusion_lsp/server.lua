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

--- Sends a request; returns (ok, request_id). `handler(err, result, ctx)`.
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

function M.cancel_request(client, request_id)
  if has_011 then
    return client:cancel_request(request_id)
  end
  return client.cancel_request(request_id)
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
  if user_caps then
    caps = vim.tbl_deep_extend('force', caps, user_caps)
  end
  return caps
end

local function on_attach(client, bufnr)
  require('diffusion_lsp.inline').attach(bufnr, client)
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
    init_options = cfg.settings,
    settings = { diffusionLsp = cfg.settings },
    capabilities = capabilities(cfg.capabilities),
    handlers = {
      ['diffusionLsp/status'] = function(_, result, ctx)
        status.update(ctx.client_id, result)
      end,
    },
    on_attach = on_attach,
    on_exit = function(code, signal, client_id)
      vim.schedule(function()
        status.exited(client_id, code, signal)
        if M.client_id == client_id then
          M.client_id = nil
        end
        require('diffusion_lsp.inline').clear_all()
      end)
    end,
  }
end

local warned_missing = false

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
  if vim.fn.executable(cfg.cmd[1]) ~= 1 then
    local message = string.format(
      "server command '%s' not found or not executable; install it (pip install diffusion-lsp) or set "
        .. "cmd in require('diffusion_lsp').setup{}", cfg.cmd[1])
    require('diffusion_lsp.status').failed(message)
    if not warned_missing then
      warned_missing = true
      vim.notify('diffusion_lsp: ' .. message, vim.log.levels.ERROR)
    end
    return nil
  end
  local id
  if has_011 then
    id = vim.lsp.start(client_config(cfg), {
      bufnr = bufnr,
      reuse_client = function(c, conf)
        return c.name == conf.name
      end,
    })
  else
    id = vim.lsp.start_client(client_config(cfg))
    if id then
      vim.lsp.buf_attach_client(bufnr, id)
    end
  end
  M.client_id = id
  if id then
    require('diffusion_lsp.status').starting(id)
  end
  return id
end

--- Sends new settings to the running server (workspace/didChangeConfiguration); no-op when none runs.
function M.update_settings(settings)
  local client = M.get_client()
  if not client then
    return false
  end
  client.config.settings = { diffusionLsp = settings }
  local params = { settings = { diffusionLsp = settings } }
  if has_011 then
    client:notify('workspace/didChangeConfiguration', params)
  else
    client.notify('workspace/didChangeConfiguration', params)
  end
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
