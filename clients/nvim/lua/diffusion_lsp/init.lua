--- diffusion_lsp: Neovim client for diffusion-lsp. `require('diffusion_lsp').setup({...})` validates the
--- options, starts the server for the configured filetypes and sets up ghost text and commands.
local M = {}

--- The resolved options after setup(), else nil.
M.config = nil

local function attach_if_wanted(bufnr)
  if not M.config then
    return
  end
  local ft = vim.bo[bufnr].filetype
  for _, wanted in ipairs(M.config.filetypes) do
    if ft == wanted then
      require('diffusion_lsp.server').attach(bufnr)
      return
    end
  end
end

--- Sets the plugin up. Bad options are reported once (with the default used instead). Calling it again
--- sends changed `settings` to a running server; a new `cmd` takes effect when the server next starts.
function M.setup(opts)
  local cfg, problems = require('diffusion_lsp.config').resolve(opts)
  if #problems > 0 then
    vim.notify('diffusion_lsp: ' .. table.concat(problems, '\n'), vim.log.levels.WARN)
  end
  local previous = M.config
  M.config = cfg
  if previous and not vim.deep_equal(previous.settings, cfg.settings) then
    require('diffusion_lsp.server').update_settings(cfg.settings)
  end
  vim.cmd('highlight default link DiffusionGhostText Comment')
  require('diffusion_lsp.commands').create()
  local group = vim.api.nvim_create_augroup('diffusion_lsp', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = cfg.filetypes,
    callback = function(args)
      attach_if_wanted(args.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      attach_if_wanted(bufnr)
    end
  end
  return cfg
end

--- Lua API for mappings: refine/fill/fix the given LSP range of the current buffer (fix: nil = file).
function M.refine(range)
  return require('diffusion_lsp.commands').run('refine', 0, range)
end

function M.fill(range)
  return require('diffusion_lsp.commands').run('fill', 0, range)
end

function M.fix(range)
  return require('diffusion_lsp.commands').run('fix', 0, range)
end

--- The last known status {state, model, device, dtype, message, lastLatencyMs}.
function M.status()
  return require('diffusion_lsp.status').current
end

--- A short string for a statusline ('' while no server runs).
function M.statusline()
  return require('diffusion_lsp.status').statusline()
end

return M
