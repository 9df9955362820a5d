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

--- Defines DiffusionGhostText unless the user did: the GUI colour of Comment (as the link it used to be),
--- italic, and for terminals without 'termguicolors' dark grey italic (ctermfg=8), so that the ghost never
--- looks like real code. Set again after a colorscheme change.
function M.define_highlight()
  local comment = vim.fn.synIDtrans(vim.fn.hlID('Comment'))
  local guifg = vim.fn.synIDattr(comment, 'fg#', 'gui')
  local attrs = 'ctermfg=8 cterm=italic gui=italic'
  if guifg ~= '' then
    attrs = attrs .. ' guifg=' .. guifg
  else
    attrs = attrs .. ' guifg=Grey'
  end
  vim.cmd('highlight default DiffusionGhostText ' .. attrs)
  require('diffusion_lsp.next_edit_preview').define_highlights()
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
  require('diffusion_lsp.inline').auto_override = nil
  M.define_highlight()
  require('diffusion_lsp.commands').create()
  local group = vim.api.nvim_create_augroup('diffusion_lsp', { clear = true })
  vim.api.nvim_create_autocmd('ColorScheme', { group = group, callback = M.define_highlight })
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

--- A short string for a statusline: '' while no server runs, else 'diffusion: loading', '... ready',
--- '... working (N)' or '... error' (', auto off' appended while automatic suggestions are off).
function M.statusline()
  return require('diffusion_lsp.status').statusline()
end

--- Automatic suggestions on/off (`on` nil: flip); returns the new state. :DiffusionToggle calls it.
function M.toggle(on)
  return require('diffusion_lsp.commands').toggle(on)
end

--- Next edit: ask now, go to it, apply it, dismiss it (:DiffusionNextEdit, ...Jump, ...Accept, ...Dismiss).
--- The last three return false when no edit is shown.
function M.next_edit()
  return require('diffusion_lsp.next_edit').request(0, true)
end

function M.next_edit_jump()
  return require('diffusion_lsp.next_edit').jump()
end

function M.next_edit_accept()
  return require('diffusion_lsp.next_edit').accept()
end

function M.next_edit_dismiss()
  return require('diffusion_lsp.next_edit').dismiss()
end

--- True while suggestions are requested as you type.
function M.auto_trigger_enabled()
  return require('diffusion_lsp.inline').auto_enabled()
end

--- Cancels the running Fill/Fix/Refine jobs and pending suggestions (:DiffusionCancel); returns how many.
function M.cancel()
  return require('diffusion_lsp.commands').cancel()
end

--- What is in flight: { requests = N, jobs = {{token, title, message, percentage, cancellable}...},
--- last_ms = {inline = ms, fix = ms, ...} }.
function M.activity()
  local jobs = require('diffusion_lsp.jobs')
  return { requests = jobs.count(), jobs = jobs.running(), last_ms = vim.deepcopy(jobs.last_ms) }
end

return M
