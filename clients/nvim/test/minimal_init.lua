-- Test init: this plugin on the runtimepath ahead of everything, filetype detection on, nothing else.
local here = debug.getinfo(1, 'S').source:sub(2)
local root = vim.fn.fnamemodify(here, ':p:h:h')
vim.opt.runtimepath:prepend(root)
vim.opt.swapfile = false
vim.opt.shortmess:append('I')
vim.opt.showmode = false
vim.cmd('filetype on')
