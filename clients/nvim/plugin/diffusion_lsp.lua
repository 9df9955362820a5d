-- diffusion_lsp: nothing starts until require('diffusion_lsp').setup() is called; this only makes the
-- commands say so instead of being unknown. Neovim sources this file after init.lua, so setup() may have
-- run already (the plain-runtimepath install): a command that exists is never redefined here.
if vim.g.loaded_diffusion_lsp then
  return
end
vim.g.loaded_diffusion_lsp = true

for _, name in ipairs({ 'DiffusionRefine', 'DiffusionFill', 'DiffusionFix', 'DiffusionStatus', 'DiffusionToggle',
  'DiffusionCancel', 'DiffusionNextEdit', 'DiffusionNextEditJump', 'DiffusionNextEditAccept',
  'DiffusionNextEditDismiss' }) do
  if vim.fn.exists(':' .. name) ~= 2 then
    vim.api.nvim_create_user_command(name, function()
      vim.notify("diffusion_lsp: call require('diffusion_lsp').setup() first (see docs/neovim.md)",
        vim.log.levels.WARN)
    end, { range = true, desc = 'diffusion-lsp (not set up yet)' })
  end
end
