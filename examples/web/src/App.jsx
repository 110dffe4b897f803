import { useEffect, useState } from 'react';
import capitalize from 'lodash/capitalize';

export default function App() {
  const [health, setHealth] = useState('checking...');

  useEffect(() => {
    fetch('/api')
      .then((r) => r.json())
      .then((body) => setHealth(`${body.service}: ${body.status}`))
      .catch(() => setHealth('unreachable'));
  }, []);

  return (
    <main style={{ fontFamily: 'sans-serif', margin: '2rem' }}>
      <h1>{capitalize('web microservice')}</h1>
      <p>Example service deployed by the secpipe DevSecOps pipeline.</p>
      <p>
        API status: <code>{health}</code>
      </p>
    </main>
  );
}
