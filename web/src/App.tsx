import { MantineProvider } from '@mantine/core';
import { ModalsProvider } from '@mantine/modals';
import { Notifications } from '@mantine/notifications';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense, useSyncExternalStore } from 'react';
import { BrowserRouter, Navigate, Route, Routes, useLocation } from 'react-router-dom';
import { ApiError } from './api/client';
import { getToken, subscribeToken } from './auth/token';
import { LoginPage } from './auth/LoginPage';
import { ChatbotsPage } from './chatbots/ChatbotsPage';
import { Shell } from './components/Shell';
import { PageLoader } from './components/PageLoader';
import { RealtimeProvider } from './inbox/realtime';
import { theme } from './theme';

const BuilderPage = lazy(() => import('./builder/BuilderPage').then((m) => ({ default: m.BuilderPage })));
const InboxPage = lazy(() => import('./inbox/InboxPage').then((m) => ({ default: m.InboxPage })));
const DashboardPage = lazy(() => import('./dashboard/DashboardPage').then((m) => ({ default: m.DashboardPage })));
const SettingsPage = lazy(() => import('./settings/SettingsPage').then((m) => ({ default: m.SettingsPage })));

export function makeQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: {
        retry: (count, e) => !(e instanceof ApiError && e.status >= 400 && e.status < 500) && count < 2,
        refetchOnWindowFocus: false,
      },
    },
  });
}

const queryClient = makeQueryClient();

export function useToken() {
  return useSyncExternalStore(subscribeToken, getToken, () => null);
}

function RequireAuth({ children }: { children: React.ReactNode }) {
  const token = useToken();
  const loc = useLocation();
  if (!token) return <Navigate to="/login" replace state={{ from: loc.pathname }} />;
  return <>{children}</>;
}

export function App() {
  return (
    <MantineProvider theme={theme} defaultColorScheme="light">
      <Notifications position="top-right" />
      <QueryClientProvider client={queryClient}>
        <ModalsProvider>
          <BrowserRouter>
            <Routes>
              <Route path="/login" element={<LoginPage />} />
              <Route
                element={
                  <RequireAuth>
                    <RealtimeProvider>
                      <Shell />
                    </RealtimeProvider>
                  </RequireAuth>
                }
              >
                <Route index element={<Navigate to="/chatbots" replace />} />
                <Route path="/chatbots" element={<ChatbotsPage />} />
                <Route
                  path="/chatbots/:id"
                  element={
                    <Suspense fallback={<PageLoader />}>
                      <BuilderPage />
                    </Suspense>
                  }
                />
                <Route
                  path="/inbox/:conversationId?"
                  element={
                    <Suspense fallback={<PageLoader />}>
                      <InboxPage />
                    </Suspense>
                  }
                />
                <Route
                  path="/dashboard"
                  element={
                    <Suspense fallback={<PageLoader />}>
                      <DashboardPage />
                    </Suspense>
                  }
                />
                <Route
                  path="/settings"
                  element={
                    <Suspense fallback={<PageLoader />}>
                      <SettingsPage />
                    </Suspense>
                  }
                />
                <Route path="*" element={<Navigate to="/chatbots" replace />} />
              </Route>
            </Routes>
          </BrowserRouter>
        </ModalsProvider>
      </QueryClientProvider>
    </MantineProvider>
  );
}
