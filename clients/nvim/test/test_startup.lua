-- Tests of the plugin as a user installs it: Neovim was started with an init.lua that run.sh wrote for
-- one install layout (see run.sh), so plugin/ was sourced in Neovim's own start-up order, and
-- `diffusion-lsp` is clients/nvim/test/fake_server.py, which logs the JSON it received
-- ($DIFFUSION_LSP_FAKE_LOG). Layouts:
--   rtp       the documented no-plugin-manager init.lua: runtimepath:append(...) + setup({})
--   pack      the plugin under pack/*/start (how packer.nvim installs it), setup({}) in init.lua
--   lazy      as lazy.nvim loads it on a FileType: add to the runtimepath, source plugin/, setup({})
--   checkout  a checkout with .venv/bin/diffusion-lsp and no diffusion-lsp on PATH
--   notfound  a checkout without .venv and no diffusion-lsp on PATH; the file given on the command line
return function(H, layout)
  local api = vim.api
  local log_path = vim.env.DIFFUSION_LSP_FAKE_LOG

  --- The fake server's log: a list of events ({event = ..., ...}), oldest first.
  local function events(name)
    local out = {}
    if vim.fn.filereadable(log_path) == 1 then
      for _, line in ipairs(vim.fn.readfile(log_path)) do
        local ok, e = pcall(vim.fn.json_decode, line)
        if ok and type(e) == 'table' and (name == nil or e.event == name) then
          table.insert(out, e)
        end
      end
    end
    return out
  end

  local function messages()
    return vim.fn.execute('messages')
  end

  local function plugin()
    return require('diffusion_lsp')
  end

  local workdir = vim.fn.tempname()
  vim.fn.mkdir(workdir, 'p')
  local counter = 0

  --- Opens a new python file and waits for the (fake) server to attach and say ready.
  local function open(content)
    counter = counter + 1
    local path = string.format('%s/start%d.py', workdir, counter)
    vim.fn.writefile(content, path)
    vim.cmd('edit ' .. vim.fn.fnameescape(path))
    local bufnr = api.nvim_get_current_buf()
    H.wait_for('the server to attach', function()
      return require('diffusion_lsp.server').client_for_buf(bufnr)
    end, 20000)
    H.wait_for('the ready status', function()
      return plugin().status().state == 'ready'
    end, 20000)
    return bufnr
  end

  local function statusline()
    return plugin().statusline()
  end

  if layout == 'notfound' then
    local checkout = vim.env.DIFFUSION_LSP_TEST_CHECKOUT
    H.allowed_errors = { "the server command 'diffusion-lsp' is not executable" }
    H.test('startup: no server on PATH: one clear message naming `cmd` and the checkout\'s server, no traceback',
      function()
        -- The python file was given on the command line, so the plugin tried to start the server during
        -- start-up, inside a FileType autocmd.
        local wanted = "the server command 'diffusion-lsp' is not executable"
        local text = H.wait_for('the message', function()
          local m = messages()
          return m:find(wanted, 1, true) and m
        end)
        local _, count = text:gsub(vim.pesc(wanted), '')
        H.eq(1, count, 'one message:\n' .. text)
        H.truthy(text:find('cmd = { \'' .. checkout .. '/.venv/bin/diffusion-lsp\' }', 1, true),
          'names the cmd option and where the server is after make demo:\n' .. text)
        H.truthy(not text:find('stack traceback', 1, true) and not text:find('Error detected', 1, true)
          and not text:find('Error executing', 1, true), 'no traceback:\n' .. text)
        H.eq('error', plugin().status().state, 'status')
        H.eq('diffusion: error', statusline(), 'statusline')
      end)
    return
  end

  H.test('startup (' .. layout .. '): the commands are the plugin\'s, not the "setup() first" placeholders', function()
    if layout == 'lazy' then
      -- lazy.nvim loads the plugin on the first buffer of its filetypes.
      open({ 'x = 1', '' })
    end
    for _, name in ipairs({ 'DiffusionRefine', 'DiffusionFill', 'DiffusionFix', 'DiffusionStatus', 'DiffusionToggle',
      'DiffusionCancel', 'DiffusionNextEdit', 'DiffusionNextEditJump', 'DiffusionNextEditAccept',
      'DiffusionNextEditDismiss' }) do
      H.eq(2, vim.fn.exists(':' .. name), name .. ' exists')
    end
    vim.cmd('DiffusionStatus')
    H.wait_for(':DiffusionStatus output', function()
      return messages():find('diffusion-lsp: ', 1, true)
    end)
    H.truthy(not messages():find('setup() first', 1, true), 'no placeholder answered:\n' .. messages())
  end)

  H.test('startup (' .. layout .. '): setup({}) sends {} as a JSON object in initializationOptions and '
    .. 'workspace/configuration', function()
    open({ 'x = 1', '' })
    local init = H.wait_for('initialize', function()
      return events('initialize')[1]
    end)
    H.eq('{}', init.initializationOptions, 'initializationOptions')
    H.eq(true, init.workDoneProgress, 'window.workDoneProgress advertised')
    local conf = H.wait_for('the workspace/configuration answer', function()
      return events('configuration')[1]
    end)
    H.eq({ '{}' }, conf.result, 'workspace/configuration answer')
  end)

  if layout == 'checkout' then
    H.test('startup: with no diffusion-lsp on PATH the checkout\'s .venv/bin/diffusion-lsp is used', function()
      open({ 'x = 1', '' })
      local started = events('started')[1]
      H.truthy(started, 'the server started')
      local client = require('diffusion_lsp.server').get_client()
      H.eq({ vim.env.DIFFUSION_LSP_TEST_CHECKOUT .. '/.venv/bin/diffusion-lsp' }, client.config.cmd, 'command')
    end)
  end

  if layout ~= 'rtp' then
    return
  end

  H.test('startup: the ghost-text highlight has a cterm fallback (grey, italic) and keeps Comment\'s GUI colour',
    function()
      local function check(when)
        local id = vim.fn.hlID('DiffusionGhostText')
        H.eq(id, vim.fn.synIDtrans(id), when .. ': a group of its own, not a link')
        H.eq('8', vim.fn.synIDattr(id, 'fg', 'cterm'), when .. ': ctermfg')
        H.eq('1', vim.fn.synIDattr(id, 'italic', 'cterm'), when .. ': cterm italic')
        local comment = vim.fn.synIDattr(vim.fn.synIDtrans(vim.fn.hlID('Comment')), 'fg#', 'gui')
        if comment ~= '' then
          H.eq(comment, vim.fn.synIDattr(id, 'fg#', 'gui'), when .. ': guifg of Comment')
        end
      end
      check('after start-up')
      vim.cmd('colorscheme default')
      check('after :colorscheme')
    end)

  H.test('startup: setup() again sends changed settings as objects (didChangeConfiguration, configuration)',
    function()
      open({ 'x = 1', '' })
      H.wait_for('the first configuration answer', function()
        return events('configuration')[1]
      end)
      H.tick(200) -- Neovim's own didChangeConfiguration after initialize, and the answer to it
      local changes, answers = #events('didChangeConfiguration'), #events('configuration')
      plugin().setup({ settings = { inline = {} } })
      local change = H.wait_for('didChangeConfiguration', function()
        return events('didChangeConfiguration')[changes + 1]
      end)
      H.eq({ diffusionLsp = { inline = '{}' } }, change.settings, 'didChangeConfiguration settings')
      local conf = H.wait_for('the configuration answer after the change', function()
        return events('configuration')[answers + 1]
      end)
      H.eq({ { inline = '{}' } }, conf.result, 'workspace/configuration answers the new settings')
      plugin().setup({})
    end)

  H.test('startup: a Fix shows its progress, counts as working, and the cancel key cancels the server\'s job',
    function()
      local bufnr = open({ 'def f(:', '    return 1', '' })
      vim.cmd('DiffusionFix')
      H.wait_for('the statusline to show the job', function()
        return statusline() == 'diffusion: working (1) 25%'
      end)
      local jobs = plugin().activity().jobs
      H.eq(1, #jobs, 'one job')
      H.eq('diffusion-lsp: Fix syntax errors', jobs[1].title, 'title')
      H.eq(true, jobs[1].cancellable, 'cancellable')
      vim.cmd('DiffusionStatus')
      H.wait_for(':DiffusionStatus with the job', function()
        return messages():find('running: diffusion-lsp: Fix syntax errors: step 1/4 (25%)', 1, true)
          and messages():find('in flight: fix 1', 1, true)
      end)
      H.feed('<M-c>')
      local cancel = H.wait_for('window/workDoneProgress/cancel at the server', function()
        return events('progressCancel')[1]
      end)
      H.eq(jobs[1].token, cancel.token, 'the job\'s token')
      H.wait_for('the statusline back to ready', function()
        return statusline() == 'diffusion: ready'
      end)
      H.eq(0, #plugin().activity().jobs, 'no job left')
      H.truthy(plugin().activity().last_ms.fix, 'the latency of the fix is known')
      vim.cmd('DiffusionStatus')
      H.wait_for(':DiffusionStatus with the last latency', function()
        return messages():find('last round trip: fix %d+ ms')
      end)
      H.eq({ 'def f(:', '    return 1', '' }, api.nvim_buf_get_lines(bufnr, 0, -1, false), 'text unchanged')
    end)

  H.test('startup: :DiffusionCancel in insert mode cancels a pending suggestion', function()
    open({ 'def f():', '    hold = 1', '' })
    api.nvim_win_set_cursor(0, { 2, 0 })
    H.feed('A')
    H.wait_for('insert mode', function()
      return api.nvim_get_mode().mode == 'i'
    end)
    local before = #events('inline')
    H.feed('<M-s>')
    local request = H.wait_for('the inline request', function()
      return events('inline')[before + 1]
    end)
    H.eq(1, request.triggerKind, 'invoked')
    H.wait_for('working (1)', function()
      return statusline() == 'diffusion: working (1)'
    end)
    H.feed('<M-c>')
    H.wait_for('$/cancelRequest for it', function()
      for _, e in ipairs(events('cancelRequest')) do
        if e.id == request.id then
          return true
        end
      end
    end)
    H.eq('diffusion: ready', statusline(), 'nothing in flight')
    H.feed('<Esc>')
  end)

  H.test('startup: inline.tab_accept = true: <Tab> accepts a shown suggestion, else types a Tab', function()
    plugin().setup({ inline = { tab_accept = true, auto_trigger = false } }) -- no new ghost after the accept
    local bufnr = open({ 'value = 1', '' })
    api.nvim_win_set_cursor(0, { 1, 0 })
    H.feed('A')
    H.wait_for('insert mode', function()
      return api.nvim_get_mode().mode == 'i'
    end)
    H.feed('<M-s>')
    H.wait_for('the ghost text', function()
      return require('diffusion_lsp.inline').current(bufnr)
    end)
    H.feed('<Tab>')
    H.wait_for('the suggestion accepted', function()
      return api.nvim_buf_get_lines(bufnr, 0, 1, false)[1] == 'value = 1fake'
    end)
    H.feed('<Tab>')
    H.wait_for('a Tab typed (the python ftplugin expands it to blanks)', function()
      return api.nvim_buf_get_lines(bufnr, 0, 1, false)[1]:match('^value = 1fake%s+$')
    end)
    H.feed('<Esc>')
    plugin().setup({})
  end)

  H.test('startup: :DiffusionToggle turns automatic suggestions off and on', function()
    local bufnr = open({ 'value = 1', '' })
    local function automatic_since(n)
      local found = 0
      for i, e in ipairs(events('inline')) do
        if i > n and e.triggerKind == 2 then
          found = found + 1
        end
      end
      return found
    end
    vim.cmd('DiffusionToggle')
    H.eq(false, plugin().auto_trigger_enabled(), 'off')
    H.eq('diffusion: ready, auto off', statusline(), 'statusline says so')
    api.nvim_win_set_cursor(0, { 1, 0 })
    local before = #events('inline')
    H.feed('Ax')
    H.wait_for('the typed text', function()
      return api.nvim_buf_get_lines(bufnr, 0, 1, false)[1] == 'value = 1x'
    end)
    H.tick(400) -- well past the debounce (75 ms): an automatic request would have gone out
    H.feed('<M-s>')
    H.wait_for('the invoked request', function()
      return events('inline')[before + 1]
    end)
    H.eq(0, automatic_since(before), 'no automatic request while off')
    H.feed('<Esc>')
    plugin().toggle()
    H.eq(true, plugin().auto_trigger_enabled(), 'on again')
    before = #events('inline')
    H.feed('Ay')
    H.wait_for('an automatic request', function()
      return automatic_since(before) > 0
    end)
    H.feed('<Esc>')
  end)
end
