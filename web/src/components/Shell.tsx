import { AppShell, Badge, Burger, Button, Group, NavLink, Stack, Text, Tooltip } from '@mantine/core';
import { useDisclosure, useMediaQuery } from '@mantine/hooks';
import { useQueryClient } from '@tanstack/react-query';
import { NavLink as RouterLink, Outlet, useLocation, useNavigate } from 'react-router-dom';
import { clearToken } from '../auth/token';
import { useRealtimeStatus } from '../inbox/realtime';

const LINKS = [
  { to: '/dashboard', label: 'Dashboard' },
  { to: '/chatbots', label: 'Chatbots' },
  { to: '/inbox', label: 'Inbox' },
  { to: '/settings', label: 'Settings' },
];

export function Shell() {
  const [opened, { toggle, close }] = useDisclosure();
  const navigate = useNavigate();
  const qc = useQueryClient();
  const loc = useLocation();
  const live = useRealtimeStatus();
  // The menu is the phone-width navigation (below Mantine's `sm`, 48em); wider, the header holds the links. A
  // collapsed AppShell navbar is only moved off screen, so its links stayed in the Tab order: inert while it
  // is not shown, the keyboard (and a screen reader) skips it.
  const wide = useMediaQuery('(min-width: 48em)', undefined, { getInitialValueInEffect: false });
  const menuShown = opened && !wide;
  const signOut = () => {
    clearToken();
    qc.clear();
    navigate('/login', { replace: true });
  };
  return (
    <AppShell header={{ height: 56 }} navbar={{ width: 220, breakpoint: 'sm', collapsed: { desktop: true, mobile: !opened } }} padding={0}>
      <AppShell.Header>
        <Group h="100%" px="md" justify="space-between" wrap="nowrap">
          <Group gap="sm" wrap="nowrap">
            <Burger opened={opened} onClick={toggle} hiddenFrom="sm" size="sm" aria-label="Open the menu" />
            <Text fw={800} c="teal.8">
              WhatsApp Builder
            </Text>
            <Group gap={4} visibleFrom="sm" component="nav" aria-label="Main">
              {LINKS.map((l) => (
                <Button
                  key={l.to}
                  component={RouterLink}
                  to={l.to}
                  variant={loc.pathname.startsWith(l.to) ? 'light' : 'subtle'}
                  size="compact-md"
                >
                  {l.label}
                </Button>
              ))}
            </Group>
          </Group>
          <Group gap="xs" wrap="nowrap">
            <Tooltip label={live ? 'Live updates connected' : 'Live updates disconnected'}>
              <Badge variant="dot" color={live ? 'green' : 'gray'} data-realtime={live ? 'live' : 'offline'}>
                {live ? 'live' : 'offline'}
              </Badge>
            </Tooltip>
            <Button variant="default" size="compact-sm" onClick={signOut} visibleFrom="sm">
              Sign out
            </Button>
          </Group>
        </Group>
      </AppShell.Header>
      <AppShell.Navbar p="sm" inert={!menuShown}>
        <Stack gap={4} component="nav" aria-label="Main">
          {LINKS.map((l) => (
            <NavLink key={l.to} component={RouterLink} to={l.to} label={l.label} onClick={close} active={loc.pathname.startsWith(l.to)} />
          ))}
          <Button variant="default" mt="md" onClick={signOut}>
            Sign out
          </Button>
        </Stack>
      </AppShell.Navbar>
      <AppShell.Main>
        <Outlet />
      </AppShell.Main>
    </AppShell>
  );
}
