--- :checkhealth diffusion_lsp: the options, the server command and its version, and the model status.
local M = {}

local health = vim.health or require('health')
local report = {
  start = health.start or health.report_start,
  ok = health.ok or health.report_ok,
  info = health.info or health.report_info,
  warn = health.warn or health.report_warn,
  error = health.error or health.report_error,
}

local has_011 = vim.fn.has('nvim-0.11') == 1

--- The command that prints the server's version: the configured command cut after the word that names
--- diffusion-lsp (`diffusion-lsp`, `.../bin/diffusion-lsp`, or `python -m diffusion_lsp`), plus --version.
function M.version_command(cmd)
  local words = {}
  for _, word in ipairs(cmd) do
    table.insert(words, word)
    if word:match('diffusion[-_]lsp$') then
      table.insert(words, '--version')
      return words
    end
  end
  return { cmd[1], '--version' }
end

local function check_server(configured)
  local server = require('diffusion_lsp.server')
  local cmd = server.resolve_cmd(configured)
  if not cmd then
    report.error(string.format("server command '%s' not found or not executable", configured[1]), {
      string.format("Point the plugin at it: require('diffusion_lsp').setup({ cmd = { '%s' } }) "
        .. '(where `make setup` or `make demo` puts it)', server.checkout_server() or
        '<checkout>/.venv/bin/diffusion-lsp'),
      'or install it into a virtualenv (pip install torch==2.13.0, then pip install /path/to/checkout) '
        .. 'and put its bin/ on PATH (see docs/neovim.md)',
    })
    return
  end
  local exe = cmd[1]
  if cmd ~= configured then
    report.info(string.format("'%s' is not on PATH; using the checkout's server", configured[1]))
  end
  report.ok(string.format('server command: %s (%s)', table.concat(cmd, ' '), vim.fn.exepath(exe)))
  local version_cmd = M.version_command(cmd)
  local output = vim.fn.system(version_cmd)
  if vim.v.shell_error ~= 0 then
    report.error(string.format('`%s` failed (exit %d): %s', table.concat(version_cmd, ' '), vim.v.shell_error,
      vim.trim(output)))
  else
    report.ok('server version: ' .. vim.trim(output))
  end
end

local function fresh_status(client)
  local params = { command = 'diffusionLsp.status', arguments = {} }
  local ok, response
  if has_011 then
    ok, response = pcall(client.request_sync, client, 'workspace/executeCommand', params, 2000)
  else
    ok, response = pcall(client.request_sync, 'workspace/executeCommand', params, 2000)
  end
  if ok and type(response) == 'table' and type(response.result) == 'table' and response.result.state then
    return response.result
  end
  return nil
end

local function check_model()
  local server = require('diffusion_lsp.server')
  local status = require('diffusion_lsp.status')
  local client = server.get_client()
  if not client then
    report.info('the server is not running; it starts with the first buffer of a configured filetype. '
      .. '`diffusion-lsp doctor` checks torch, the device and the model without an editor.')
    if status.current.state == 'error' then
      report.error('last error: ' .. (status.current.message or '?'))
    end
    return
  end
  local current = fresh_status(client) or status.current
  local line = 'model status: ' .. status.format(current)
  if current.state == 'ready' then
    report.ok(line)
  elseif current.state == 'error' then
    report.error(line, { 'Check the `model`, `device` and `dtype` settings', 'See :LspLog for details' })
  else
    report.warn(line)
  end
end

function M.check()
  report.start('diffusion_lsp')
  local version = vim.version()
  report.info(string.format('Neovim %d.%d.%d', version.major, version.minor, version.patch))
  local plugin = require('diffusion_lsp')
  if not plugin.config then
    report.warn("setup() has not been called", { "Add require('diffusion_lsp').setup({}) to your config" })
    check_server(require('diffusion_lsp.config').defaults.cmd)
    return
  end
  report.ok('setup() done; filetypes: ' .. table.concat(plugin.config.filetypes, ', '))
  if plugin.config.inline.enabled then
    report.info('inline completion: ' .. require('diffusion_lsp.inline').backend() .. ' ghost text')
  else
    report.info('inline completion: disabled')
  end
  local ne = plugin.config.next_edit
  if ne.enabled then
    report.info(string.format('next edit: on (%s; preview drawn %s)', ne.auto and ('asked after '
      .. ne.debounce_ms .. ' ms without a change') or 'only on :DiffusionNextEdit',
      require('diffusion_lsp.next_edit_preview').supports_inline() and 'inline' or 'as virtual lines'))
  else
    report.info('next edit: disabled')
  end
  check_server(plugin.config.cmd)
  check_model()
end

return M
