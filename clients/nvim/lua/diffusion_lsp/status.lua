--- The server's model status (loading, ready, error) as the `diffusionLsp/status` notifications report
--- it, for :DiffusionStatus, statuslines and :checkhealth. Fires `User DiffusionLspStatus` on change.
local M = {}

--- The last status: {state, model, device, dtype, message, lastLatencyMs}; state is 'stopped' until a
--- server starts, 'starting' until its first notification.
M.current = { state = 'stopped', message = 'the server has not been started' }

local function changed()
  vim.api.nvim_exec_autocmds('User', { pattern = 'DiffusionLspStatus', modeline = false })
end

local function set(status)
  M.current = status
  changed()
end

--- Called for each `diffusionLsp/status` notification.
function M.update(_, params)
  if type(params) ~= 'table' or type(params.state) ~= 'string' then
    return
  end
  set(vim.deepcopy(params))
end

function M.starting(_)
  set({ state = 'starting', message = 'the server is starting' })
end

--- The server could not be started.
function M.failed(message)
  set({ state = 'error', message = message })
end

function M.exited(_, code, signal)
  if code == 0 and (signal or 0) == 0 then
    set({ state = 'stopped', message = 'the server has stopped' })
  else
    set({ state = 'error', message = string.format('the server exited (code %s, signal %s); see :LspLog',
      tostring(code), tostring(signal)) })
  end
end

--- One line for people: "ready: MODEL on DEVICE (DTYPE), last 120 ms".
function M.format(status)
  status = status or M.current
  local parts = { status.state or '?' }
  if status.model and status.model ~= '' then
    local where = status.model
    if status.device and status.device ~= '' then
      where = where .. ' on ' .. status.device
    end
    if status.dtype and status.dtype ~= '' then
      where = where .. ' (' .. status.dtype .. ')'
    end
    table.insert(parts, ': ' .. where)
  end
  if type(status.lastLatencyMs) == 'number' then
    table.insert(parts, string.format(', last %d ms', math.floor(status.lastLatencyMs + 0.5)))
  end
  if status.message and status.message ~= '' then
    table.insert(parts, ' - ' .. status.message)
  end
  return table.concat(parts)
end

--- A short string for a statusline: '' when stopped, else "diffusion: STATE" where STATE is loading,
--- ready, working (N) (N requests in flight, with the running job's percentage when it reports one) or
--- error; ", auto off" while automatic suggestions are toggled off.
function M.statusline()
  local state = M.current.state
  if state == 'stopped' then
    return ''
  end
  local jobs = require('diffusion_lsp.jobs')
  local n = jobs.count()
  local text
  if state == 'error' then
    text = 'error'
  elseif n > 0 then
    text = string.format('working (%d)', n)
    for _, p in ipairs(jobs.running()) do
      if p.cancellable and type(p.percentage) == 'number' then
        text = text .. string.format(' %d%%', p.percentage)
        break
      end
    end
  elseif state == 'ready' then
    text = 'ready'
  else
    text = 'loading'
  end
  local plugin = require('diffusion_lsp')
  if plugin.config and plugin.config.inline.enabled and not require('diffusion_lsp.inline').auto_enabled() then
    text = text .. ', auto off'
  end
  return 'diffusion: ' .. text
end

return M
